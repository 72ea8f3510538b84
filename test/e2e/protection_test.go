package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"stepgate.io/stepgate/web"
)

// TestAccountProtectionFromTheCLI drives the lock, the compliance report,
// unlock, reset-mfa, disable and the audit trail with the real binary.
func TestAccountProtectionFromTheCLI(t *testing.T) {
	s := startServer(t, "", "auth:\n  accountLock: {enabled: true, failureTriggers: 3, durationSeconds: 0}\n")
	root := s.addUser(t, "root", "ops")
	s.mustStepgate(t, "", "user", "set-groups", "root", "ops")
	kim := s.enrolledUser(t, "kim", "devs")
	ctx := ctxFor(t, 2*time.Minute)
	c := s.client(t)
	for i := 0; i < 3; i++ {
		if _, err := c.Login(ctx, web.LoginRequest{Username: "kim", Password: "not the password, no", Code: "000000"}); !web.IsStatus(err, http.StatusUnauthorized) {
			t.Fatalf("wrong attempt %d: %v", i, err)
		}
	}
	if _, err := c.Login(ctx, web.LoginRequest{Username: "kim", Password: kim.password, Code: kim.otp.next(t)}); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("locked account signed in: %v", err)
	}
	list := s.mustStepgate(t, "", "user", "list")
	if !regexp.MustCompile(`(?m)^kim\s+devs\s+no\s+yes\s+yes\s+until unlocked\s+3\s+10\s`).MatchString(list) {
		t.Errorf("user list does not show kim locked with 3 failures and 10 recovery codes:\n%s", list)
	}
	if !regexp.MustCompile(`(?m)^root\s+ops\s+no\s+no\s+yes\s+no\s+0\s+0\s+never\s+active`).MatchString(list) {
		t.Errorf("user list does not show root without TOTP:\n%s", list)
	}

	// /accounts: refused to a non-admin, shown to an admin.
	s.mustStepgate(t, "", "user", "unlock", "kim")
	kimToken := s.login(t, kim)
	if _, err := c.WithToken(kimToken).Session(ctx); err != nil {
		t.Fatal(err)
	}
	var accounts web.List[map[string]any]
	if err := c.WithToken(kimToken).Do(ctx, http.MethodGet, web.PathAccounts, nil, &accounts); !web.IsStatus(err, http.StatusForbidden) {
		t.Errorf("/accounts as a non-admin: %v", err)
	}
	_ = root

	// reset-mfa ends the session and forces enrollment at the next sign-in.
	s.mustStepgate(t, "", "user", "reset-mfa", "kim")
	if _, err := c.WithToken(kimToken).Session(ctx); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("session after reset-mfa: %v", err)
	}
	info, err := c.Login(ctx, web.LoginRequest{Username: "kim", Password: kim.password})
	if err != nil || !info.EnrollmentRequired {
		t.Fatalf("sign-in after reset-mfa: %+v %v", info, err)
	}

	s.mustStepgate(t, "", "user", "disable", "kim")
	if _, err := c.Login(ctx, web.LoginRequest{Username: "kim", Password: kim.password}); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("disabled account signed in: %v", err)
	}
	s.mustStepgate(t, "", "user", "enable", "kim")

	audit := s.mustStepgate(t, "", "audit", "--user", "kim")
	for _, want := range []string{"login  ", "failure", "account.lock", "account.unlock", "mfa.enroll", "mfa.reset", "session.revoke", "account.update"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	if strings.Contains(audit, kim.password) || strings.Contains(audit, "not the password") {
		t.Errorf("a password reached the audit trail:\n%s", audit)
	}
	if strings.Contains(s.stderr.String(), kim.password) || strings.Contains(s.stderr.String(), kimToken) {
		t.Error("a password or token reached the server log")
	}
}

// TestRecoveryCodesRegenerate replaces the codes from the terminal; an old
// code stops working and a new one signs in once.
func TestRecoveryCodesRegenerate(t *testing.T) {
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "lee", "devs")
	kc := s.kubeconfig(t, u)
	s.signIn(t, u, kc)
	tm := startTerm(t, kubectlEnv(t, kc), env.stepgate, "recovery-codes", "regenerate")
	tm.expect(`Current one-time code: `)
	tm.send(u.otp.next(t))
	out := tm.mustSucceed()
	codes := regexp.MustCompile(`[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}`).FindAllString(out, -1)
	if len(codes) != 10 {
		t.Fatalf("%d new codes shown:\n%s", len(codes), out)
	}
	c := s.client(t)
	ctx := ctxFor(t, time.Minute)
	if _, err := c.Login(ctx, web.LoginRequest{Username: "lee", Password: u.password, Code: codes[0]}); err != nil {
		t.Fatalf("new recovery code: %v", err)
	}
	if _, err := c.Login(ctx, web.LoginRequest{Username: "lee", Password: u.password, Code: codes[0]}); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("a recovery code worked twice: %v", err)
	}
}
