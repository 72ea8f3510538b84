package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stepgate.io/stepgate/web"
)

// TestPasswordChangeAndDelete: `user passwd` ends the account's sessions
// and only the new password signs in; `user delete` ends the sessions and
// the account signs in no more. Both with the real binary and store.
func TestPasswordChangeAndDelete(t *testing.T) {
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "ines", "devs")
	ctx := ctxFor(t, 2*time.Minute)
	c := s.client(t)
	token := s.login(t, u)

	const newPassword = "quiet lantern over snow 42"
	s.mustStepgate(t, newPassword+"\n", "user", "passwd", "ines", "--password-stdin")
	if _, err := c.WithToken(token).Session(ctx); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("session after user passwd: %v, want 401", err)
	}
	if _, err := c.Login(ctx, web.LoginRequest{Username: "ines", Password: u.password, Code: u.otp.next(t)}); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("old password after user passwd: %v, want 401", err)
	}
	u.password = newPassword
	token = s.login(t, u)

	if _, errOut, err := s.stepgate(t, "short\n", "user", "passwd", "ines", "--password-stdin"); err == nil || !strings.Contains(errOut, "12") {
		t.Errorf("a 5-character password was accepted (or the error does not say the minimum): %v %s", err, errOut)
	}

	s.mustStepgate(t, "", "user", "delete", "ines")
	if _, err := c.WithToken(token).Session(ctx); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("session after user delete: %v, want 401", err)
	}
	if _, err := c.Login(ctx, web.LoginRequest{Username: "ines", Password: u.password, Code: u.otp.next(t)}); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("deleted account signed in: %v", err)
	}
	if list := s.mustStepgate(t, "", "user", "list"); strings.Contains(list, "ines") {
		t.Errorf("user list still shows the deleted account:\n%s", list)
	}
}

// TestLogout: `stepgate logout` ends the session on the server and removes
// the cached token, so the next kubectl command has to sign in again.
func TestLogout(t *testing.T) {
	s := startServer(t, "", "")
	u, kc := stepUpUser(t, s, "jo")
	token := cachedToken(t, kc)
	if out, err := kubectl(t, kc, "get", "pods"); err != nil {
		t.Fatalf("get pods while signed in: %v\n%s", err, out)
	}
	out, err := kubectlWith(t, env.stepgate, kubectlEnv(t, kc), "logout")
	if err != nil || !strings.Contains(out, "Signed out") {
		t.Fatalf("stepgate logout: %v\n%s", err, out)
	}
	if _, err := s.client(t).WithToken(token).Session(ctxFor(t, time.Minute)); !web.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("the session still works after logout: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(kc), "cache", "stepgate", "sessions", "*.json"))
	if len(matches) != 0 {
		t.Errorf("token cache left after logout: %v", matches)
	}
	out, err = kubectl(t, kc, "get", "pods")
	if err == nil || !strings.Contains(out, "stepgate login") {
		t.Errorf("kubectl without a terminal after logout should say how to sign in: %v\n%s", err, out)
	}
	_ = u
}

// TestAdminSeesAccounts: GET /stepgate/v1/accounts as an admin shows, per
// account, its groups, admin flag, TOTP, lock and failure count and last
// sign-in; and the admin CLI's actions reach the log as well as the store.
func TestAdminSeesAccounts(t *testing.T) {
	s := startServer(t, "", "auth:\n  accountLock: {enabled: true, failureTriggers: 2, durationSeconds: 600}\n")
	root := s.enroll(t, s.addUserWith(t, "root", []string{"--admin"}, "ops"))
	kim := s.enrolledUser(t, "kim", "devs", "oncall")
	ctx := ctxFor(t, 2*time.Minute)
	c := s.client(t)
	s.login(t, kim)
	for i := 0; i < 2; i++ {
		c.Login(ctx, web.LoginRequest{Username: "kim", Password: "not the password, no", Code: "000000"})
	}
	rootToken := s.login(t, root)
	var accounts web.List[map[string]any]
	if err := c.WithToken(rootToken).Do(ctx, http.MethodGet, web.PathAccounts, nil, &accounts); err != nil {
		t.Fatalf("/accounts as an admin: %v", err)
	}
	byName := map[string]map[string]any{}
	for _, a := range accounts.Items {
		name, _ := a["name"].(string)
		byName[name] = a
	}
	k, r := byName["kim"], byName["root"]
	if k == nil || r == nil {
		t.Fatalf("accounts: %v", accounts.Items)
	}
	if g, _ := k["groups"].([]any); len(g) != 2 || g[0] != "devs" || g[1] != "oncall" {
		t.Errorf("kim's groups: %v", k["groups"])
	}
	if k["admin"] != false || r["admin"] != true {
		t.Errorf("admin flags: kim %v, root %v", k["admin"], r["admin"])
	}
	if k["totpEnrolled"] != true || k["locked"] != true || k["failedAttempts"] != float64(2) {
		t.Errorf("kim: totpEnrolled %v locked %v failedAttempts %v", k["totpEnrolled"], k["locked"], k["failedAttempts"])
	}
	if until, _ := k["lockedUntil"].(string); until == "" {
		t.Errorf("kim is locked for 10 minutes but lockedUntil is %v", k["lockedUntil"])
	}
	if last, _ := k["lastLoginAt"].(string); last == "" {
		t.Errorf("kim signed in but lastLoginAt is %v", k["lastLoginAt"])
	}

	// The CLI's unlock goes to the store's trail and to its own log.
	_, errOut, err := s.stepgate(t, "", "user", "unlock", "kim")
	if err != nil || !strings.Contains(errOut, `"type":"account.unlock"`) || !strings.Contains(errOut, `"user":"kim"`) {
		t.Errorf("user unlock log: %v\n%s", err, errOut)
	}
	recent := s.mustStepgate(t, "", "audit", "--since", "1h")
	if !strings.Contains(recent, "account.unlock") || !strings.Contains(recent, "account.lock") {
		t.Errorf("audit --since 1h lacks the lock and unlock:\n%s", recent)
	}
	time.Sleep(1100 * time.Millisecond)
	if none := s.mustStepgate(t, "", "audit", "--since", "1s"); strings.Contains(none, "account.lock") {
		t.Errorf("audit --since 1s shows an older event:\n%s", none)
	}
}
