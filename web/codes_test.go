package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/session"
)

const genericMessage = "invalid credentials"

func loginBody(user, password, code string) string {
	b, _ := json.Marshal(LoginRequest{Username: user, Password: password, Code: code})
	return string(b)
}

// A code that matches a time step just outside the accepted window, with
// the right password, gets the generic 401 but a message about the
// device's clock; with a wrong password (or none of it right) the answer
// is exactly the generic one, so the hint tells nothing to someone who
// does not know the password.
func TestClockDriftHintAtSignIn(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, 600, 100)
	secret := f.user(t, "alice", false)
	drifted := f.code(t, secret, 5*30*time.Second) // 5 steps ahead; ±1 is accepted
	farOff := f.code(t, secret, -time.Hour)        // beyond the drift diagnosis too

	resp, body := f.call(t, http.MethodPost, PathLogin, "", loginBody("alice", pw, drifted))
	st := statusOf(t, body)
	if resp.StatusCode != http.StatusUnauthorized || st.Code != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized {
		t.Fatalf("drifted code: %d %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(st.Message, genericMessage) || !strings.Contains(st.Message, "clock") {
		t.Errorf("drifted code with the right password: message %q does not point at the device clock", st.Message)
	}

	generic := []struct{ name, body string }{
		{"wrong password, drifted code", loginBody("alice", "not the password at all", drifted)},
		{"wrong password, wrong code", loginBody("alice", "not the password at all", "000000")},
		{"unknown user, drifted code", loginBody("mallory", pw, drifted)},
		{"right password, code far off", loginBody("alice", pw, farOff)},
	}
	for _, tc := range generic {
		resp, body := f.call(t, http.MethodPost, PathLogin, "", tc.body)
		st := statusOf(t, body)
		if resp.StatusCode != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized || st.Message != genericMessage {
			t.Errorf("%s: %d %q, want 401 %q", tc.name, resp.StatusCode, st.Message, genericMessage)
		}
	}
	// The drifted code was not accepted, and nothing was locked: the
	// current code still signs in.
	f.login(t, "alice", secret)
}

// Step-up gives the same hint, and the challenge stays pending.
func TestClockDriftHintAtStepUp(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, 600, 100)
	secret := f.user(t, "alice", false)
	token := f.login(t, "alice", secret)
	p, err := f.m.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	req := session.Request{Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "web"}
	ch, err := f.m.Challenge(context.Background(), p, "prod-delete", 0, req, "delete pods/web in namespace prod-eu")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)

	body := `{"code":"` + f.code(t, secret, -6*30*time.Second) + `","challengeID":"` + ch.ID + `"}`
	resp, data := f.call(t, http.MethodPost, PathStepUp, token, body)
	st := statusOf(t, data)
	if resp.StatusCode != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized ||
		!strings.HasPrefix(st.Message, genericMessage) || !strings.Contains(st.Message, "clock") {
		t.Errorf("drifted step-up code: %d %q", resp.StatusCode, st.Message)
	}
	resp, data = f.call(t, http.MethodPost, PathStepUp, token, `{"code":"000000","challengeID":"`+ch.ID+`"}`)
	if st := statusOf(t, data); resp.StatusCode != http.StatusUnauthorized || st.Message != genericMessage {
		t.Errorf("wrong step-up code: %d %q, want %q", resp.StatusCode, st.Message, genericMessage)
	}
	var info SessionInfo
	if _, data := f.call(t, http.MethodGet, PathSession, token, ""); json.Unmarshal([]byte(data), &info) != nil ||
		info.PendingStepUp == nil || info.PendingStepUp.ID != ch.ID {
		t.Fatalf("the challenge is no longer pending: %s", data)
	}
	resp, data = f.call(t, http.MethodPost, PathStepUp, token, `{"code":"`+f.code(t, secret, 0)+`","challengeID":"`+ch.ID+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("current code after the drifted one: %d %s", resp.StatusCode, data)
	}
}

// Recovery codes come back once, in the answer that switches TOTP on; no
// later answer carries them, and each works once.
func TestRecoveryCodesShownOnceAtEnrollment(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, 600, 100)
	rootToken := f.login(t, "root", f.user(t, "root", true))
	if _, err := f.m.CreateAccount(context.Background(), session.NewAccount{Name: "carol", Password: pw}, "test"); err != nil {
		t.Fatal(err)
	}

	resp, data := f.call(t, http.MethodPost, PathLogin, "", loginBody("carol", pw, ""))
	var info SessionInfo
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(data), &info) != nil || !info.EnrollmentRequired {
		t.Fatalf("first sign-in: %d %s", resp.StatusCode, data)
	}
	resp, data = f.call(t, http.MethodPost, PathTOTP, info.Token, "")
	var enroll EnrollResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(data), &enroll) != nil || enroll.Secret == "" {
		t.Fatalf("begin enrollment: %d %s", resp.StatusCode, data)
	}
	resp, data = f.call(t, http.MethodPost, PathTOTPConfirm, info.Token, `{"code":"`+f.code(t, enroll.Secret, 0)+`"}`)
	var confirm ConfirmResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(data), &confirm) != nil {
		t.Fatalf("confirm enrollment: %d %s", resp.StatusCode, data)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the answer with the recovery codes may be cached")
	}
	seen := map[string]bool{}
	for _, c := range confirm.RecoveryCodes {
		if !mfa.LooksLikeRecoveryCode(c) || seen[c] {
			t.Errorf("recovery code %q is malformed or repeated", c)
		}
		seen[c] = true
	}
	if len(seen) != mfa.RecoveryCodeCount || confirm.Token == "" {
		t.Fatalf("confirm gave %d distinct codes and token %t, want %d and a token", len(seen), confirm.Token != "", mfa.RecoveryCodeCount)
	}

	token := confirm.Token
	later := []struct{ method, path, token, body string }{
		{http.MethodPost, PathTOTPConfirm, token, `{"code":"` + f.code(t, enroll.Secret, 30*time.Second) + `"}`},
		{http.MethodPost, PathTOTP, token, ""},
		{http.MethodGet, PathSession, token, ""},
		{http.MethodGet, PathSessions, token, ""},
		{http.MethodGet, PathAccounts, rootToken, ""},
		{http.MethodGet, PathSessions, rootToken, ""},
		{http.MethodGet, PathAudit, rootToken, ""},
	}
	for _, c := range later {
		resp, data := f.call(t, c.method, c.path, c.token, c.body)
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, data)
		}
		for code := range seen {
			if strings.Contains(data, code) || strings.Contains(data, mfa.HashRecoveryCode(code)) {
				t.Errorf("%s %s shows a recovery code again: %s", c.method, c.path, data)
				break
			}
		}
	}

	code := confirm.RecoveryCodes[3]
	resp, data = f.call(t, http.MethodPost, PathLogin, "", loginBody("carol", pw, code))
	var used SessionInfo
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(data), &used) != nil ||
		used.RecoveryCodesLeft == nil || *used.RecoveryCodesLeft != mfa.RecoveryCodeCount-1 {
		t.Fatalf("sign-in with a recovery code: %d %s", resp.StatusCode, data)
	}
	resp, data = f.call(t, http.MethodPost, PathLogin, "", loginBody("carol", pw, code))
	if st := statusOf(t, data); resp.StatusCode != http.StatusUnauthorized || st.Message != genericMessage {
		t.Errorf("the same recovery code twice: %d %q", resp.StatusCode, st.Message)
	}
}
