package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"stepgate.io/stepgate/mfa"
)

var deleteWebProd = Request{Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "web"}

// stepUpFixture signs alice in and returns her principal and secret.
func stepUpFixture(t *testing.T, o fixtureOpts) (*fixture, *Principal, string) {
	f := newFixture(t, o)
	secret := f.enrolled("alice", false)
	res := f.mustLogin("alice", secret)
	return f, res.Principal, secret
}

// answer records a challenge for req under rule and answers it with a
// fresh code, returning the principal of the rotated token.
func (f *fixture) answer(p *Principal, secret, rule string, maxAge time.Duration, req Request) *Principal {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.m.Challenge(ctx, p, rule, maxAge, req, "test action"); err != nil {
		f.t.Fatal(err)
	}
	f.nextStep()
	res, err := f.m.StepUp(ctx, p, StepUpRequest{Code: f.code(secret, 0)})
	if err != nil {
		f.t.Fatalf("step-up: %v", err)
	}
	np, err := f.m.Authenticate(ctx, res.Token)
	if err != nil {
		f.t.Fatal(err)
	}
	return np
}

// satisfied is StepUpSatisfied that fails the test on an error.
func (f *fixture) satisfied(p *Principal, rule string, maxAge time.Duration, req Request) bool {
	f.t.Helper()
	ok, err := f.m.StepUpSatisfied(context.Background(), p, rule, maxAge, req)
	if err != nil {
		f.t.Fatalf("step-up satisfied %s: %v", rule, err)
	}
	return ok
}

func TestGrantIsBoundToTheExactRequestAndSingleUse(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	if f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Fatal("satisfied before any code")
	}
	sibling := f.mustLogin("alice", secret).Principal // another session of the same user
	p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
	with := func(change func(*Request)) Request {
		r := deleteWebProd
		change(&r)
		return r
	}
	others := []struct {
		name string
		req  Request
	}{
		{"other pod", with(func(r *Request) { r.Name = "api" })},
		{"other namespace", with(func(r *Request) { r.Namespace = "prod-us" })},
		{"cluster scope", with(func(r *Request) { r.Namespace = "" })},
		{"deletecollection", with(func(r *Request) { r.Verb, r.Name = "deletecollection", "" })},
		{"other verb", with(func(r *Request) { r.Verb = "patch" })},
		{"other API group", with(func(r *Request) { r.APIGroup = "metrics.k8s.io" })},
		{"other resource", with(func(r *Request) { r.Resource = "services" })},
		{"subresource", with(func(r *Request) { r.Subresource = "status" })},
		{"subresource eviction", with(func(r *Request) { r.Verb, r.Subresource = "create", "eviction" })},
	}
	for _, tc := range others {
		if f.satisfied(p, "prod-delete", 0, tc.req) {
			t.Errorf("grant for delete pods/web in prod-eu let through %s", tc.name)
		}
	}
	if f.satisfied(sibling, "prod-delete", 0, deleteWebProd) {
		t.Error("grant crossed to another session of the same user")
	}
	if f.satisfied(p, "other-rule", 0, deleteWebProd) {
		t.Error("grant crossed to another rule")
	}
	if !f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Fatal("the granted request was refused")
	}
	if f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Error("a single-use grant worked twice")
	}
}

// Two replicas (two Managers, two handles on the same SQLite file) racing
// to spend one single-use grant: exactly one wins, every time.
func TestSingleUseGrantSpentOnceUnderConcurrency(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	other, err := OpenSQLite(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	m2, err := New(Options{Store: other, Hasher: f.hasher, Sealer: f.m.sealer, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	managers := [2]*Manager{f.m, m2}
	for round := 0; round < 10; round++ {
		p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
		var ok [2]bool
		errs := burst(2, func(i int) error {
			var err error
			ok[i], err = managers[i].StepUpSatisfied(ctx, p, "prod-delete", 0, deleteWebProd)
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if ok[0] == ok[1] {
			t.Fatalf("round %d: both or neither spent the grant: %v", round, ok)
		}
	}
}

func TestGrantExpires(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
	f.clock.Advance(2*time.Minute - time.Second)
	if !f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Error("grant refused at 1m59s")
	}
	p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
	f.clock.Advance(2*time.Minute + time.Second)
	if f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Error("grant still works after 2 minutes")
	}
}

// A challenge left unanswered for ChallengeTTL is gone: a code sent then
// finds nothing to answer, and is not spent.
func TestChallengeExpires(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	c, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2*time.Minute - time.Second)
	if pending, err := f.m.PendingChallenge(ctx, p); err != nil || pending == nil || pending.ID != c.ID {
		t.Fatalf("pending at 1m59s: %+v %v", pending, err)
	}
	f.clock.Advance(time.Second)
	if pending, err := f.m.PendingChallenge(ctx, p); err != nil || pending != nil {
		t.Fatalf("pending after 2m: %+v %v", pending, err)
	}
	f.nextStep()
	code := f.code(secret, 0)
	for _, req := range []StepUpRequest{{Code: code}, {Code: code, ChallengeID: c.ID}} {
		if _, err := f.m.StepUp(ctx, p, req); !errors.Is(err, ErrNoChallenge) {
			t.Errorf("step-up on an expired challenge (id %q): err = %v", req.ChallengeID, err)
		}
	}
	if f.satisfied(p, "prod-delete", 0, deleteWebProd) {
		t.Error("an expired challenge was granted")
	}
	if _, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code}); err != nil {
		t.Errorf("the code offered to the expired challenge was spent: %v", err)
	}
}

// A code sent for a challenge that was replaced (or never existed) is
// refused before it is checked: it is neither spent nor counted, and the
// challenge pending now is not granted by it.
func TestStaleChallengeIDSpendsNoCode(t *testing.T) {
	f, p, secret := stepUpFixture(t, lockPolicy(3, time.Hour))
	ctx := context.Background()
	deleteAPI := Request{Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "api"}
	c1, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete pods/web")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteAPI, "delete pods/api")
	if err != nil {
		t.Fatal(err)
	}
	f.nextStep()
	code := f.code(secret, 0)
	before := f.account("alice")
	for _, id := range []string{c1.ID, "c-nosuchchallenge"} {
		if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code, ChallengeID: id}); !errors.Is(err, ErrNoChallenge) {
			t.Errorf("challenge id %s: err = %v", id, err)
		}
	}
	after := f.account("alice")
	if after.TOTPLastStep != before.TOTPLastStep || after.FailedAttempts != before.FailedAttempts {
		t.Errorf("a refused answer touched the account: last step %d -> %d, failures %d -> %d",
			before.TOTPLastStep, after.TOTPLastStep, before.FailedAttempts, after.FailedAttempts)
	}
	if f.satisfied(p, "prod-delete", 0, deleteWebProd) || f.satisfied(p, "prod-delete", 0, deleteAPI) {
		t.Fatal("a refused answer granted something")
	}
	su, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code, ChallengeID: c2.ID})
	if err != nil {
		t.Fatalf("the same code for the pending challenge: %v", err)
	}
	if su.Challenge == nil || su.Challenge.ID != c2.ID {
		t.Errorf("answered %+v, want %s", su.Challenge, c2.ID)
	}
	np, err := f.m.Authenticate(ctx, su.Token)
	if err != nil {
		t.Fatal(err)
	}
	if f.satisfied(np, "prod-delete", 0, deleteWebProd) {
		t.Error("the replaced challenge's request was granted")
	}
	if !f.satisfied(np, "prod-delete", 0, deleteAPI) {
		t.Error("the pending challenge's request was not granted")
	}
}

// Step-up challenges, grants and failures are kept in the store with the
// user (so `stepgate audit --user` shows them), the session and the rule.
func TestStepUpEventsNameUserAndRule(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	if _, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete pods/web in namespace prod-eu"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: "000000", Source: "192.0.2.7"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong code: err = %v", err)
	}
	f.nextStep()
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: f.code(secret, 0), Source: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{EventStepUpChallenge, EventStepUpFail, EventStepUpGrant} {
		events := f.events("alice", typ)
		if len(events) != 1 {
			t.Errorf("%s: %d events for alice, want 1", typ, len(events))
			continue
		}
		e := events[0]
		if e.User != "alice" || e.SessionID != p.SessionID || !strings.HasPrefix(e.Detail, "rule prod-delete") {
			t.Errorf("%s event = %+v, want user alice, session %s and the rule", typ, e, p.SessionID)
		}
		if typ != EventStepUpChallenge && e.Source != "192.0.2.7" {
			t.Errorf("%s event source %q", typ, e.Source)
		}
	}
	if fails := f.events("alice", EventStepUpFail); len(fails) == 1 && fails[0].Outcome != OutcomeFailure {
		t.Errorf("failure event outcome %q", fails[0].Outcome)
	}
}

func TestMaxAgeWindowCoversTheRule(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	exec := Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "default", Name: "a"}
	p = f.answer(p, secret, "pod-access", 10*time.Minute, exec)
	for _, name := range []string{"a", "b", "c"} {
		req := exec
		req.Name = name
		if ok, err := f.m.StepUpSatisfied(ctx, p, "pod-access", 10*time.Minute, req); !ok || err != nil {
			t.Errorf("exec %s inside the window: %v %v", name, ok, err)
		}
	}
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "other-rule", 10*time.Minute, exec); ok {
		t.Error("window leaked to another rule")
	}
	f.clock.Advance(10*time.Minute + time.Second)
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "pod-access", 10*time.Minute, exec); ok {
		t.Error("window still open after maxAge")
	}
}

// A window is judged by the rule's maxAge now, not only by the one it was
// opened under: an operator who lowers maxAge (and restarts) closes old
// windows early. Only a code entered for the rule's challenge opens one;
// the sign-in code does not.
func TestWindowHonorsCurrentMaxAge(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	exec := Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "default", Name: "a"}
	if f.satisfied(p, "pod-access", 10*time.Minute, exec) {
		t.Fatal("the sign-in code opened a window")
	}
	p = f.answer(p, secret, "pod-access", 10*time.Minute, exec)
	f.clock.Advance(4 * time.Minute)
	if !f.satisfied(p, "pod-access", 5*time.Minute, exec) {
		t.Error("window closed at 4m under a 5m maxAge")
	}
	f.clock.Advance(2 * time.Minute)
	if f.satisfied(p, "pod-access", 5*time.Minute, exec) {
		t.Error("window opened under maxAge 10m still open at 6m after maxAge was lowered to 5m")
	}
	if !f.satisfied(p, "pod-access", 10*time.Minute, exec) {
		t.Error("window closed at 6m under its own 10m maxAge")
	}
	if f.satisfied(p, "pod-access", 0, exec) {
		t.Error("window satisfied the rule once its maxAge became 0")
	}
}

func TestElevateWindowIsCappedByMaxAge(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: "000000"}); !errors.Is(err, ErrNoChallenge) {
		t.Fatalf("step-up with nothing pending: err = %v", err)
	}
	f.nextStep()
	res, err := f.m.StepUp(ctx, p, StepUpRequest{Code: f.code(secret, 0), Elevate: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = f.m.Authenticate(ctx, res.Token)
	exec := Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "default", Name: "a"}
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "pod-access", 10*time.Minute, exec); !ok {
		t.Error("elevated, but a 10m-maxAge rule still asks")
	}
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "prod-delete", 0, deleteWebProd); ok {
		t.Error("elevation satisfied a maxAge-0 rule")
	}
	f.clock.Advance(2 * time.Minute)
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "short-rule", time.Minute, exec); ok {
		t.Error("elevation outlived a 1m rule's maxAge")
	}
	f.clock.Advance(4 * time.Minute)
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "pod-access", 10*time.Minute, exec); ok {
		t.Error("elevation outlived --for 5m")
	}
}

func TestStepUpCodesAreSingleUse(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	f.nextStep()
	loginCode := f.code(secret, 0)
	res, err := f.login("alice", testPassword, loginCode)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Principal
	if _, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: loginCode}); !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrCodeReused) {
		t.Fatalf("login code reused for step-up: err = %v", err)
	}
	f.nextStep()
	code := f.code(secret, 0)
	r1, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = f.m.Authenticate(ctx, r1.Token)
	if _, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code}); !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrCodeReused) {
		t.Fatalf("a step-up code used twice: err = %v", err)
	}
}

func TestFailedStepUpsCountTowardLockout(t *testing.T) {
	f, p, secret := stepUpFixture(t, lockPolicy(3, time.Hour))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: "000000"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong step-up code: err = %v", err)
		}
	}
	if a := f.account("alice"); a.LockedAt.IsZero() {
		t.Fatal("three failed step-up codes did not lock the account")
	}
	f.m.Challenge(ctx, p, "prod-delete", 0, deleteWebProd, "delete")
	f.nextStep()
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: f.code(secret, 0)}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("right code on a locked account: err = %v", err)
	}
}

func TestStepUpRotatesTheToken(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	f.m.Challenge(ctx, res.Principal, "r", 0, deleteWebProd, "delete")
	f.nextStep()
	su, err := f.m.StepUp(ctx, res.Principal, StepUpRequest{Code: f.code(secret, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("old token after step-up: err = %v", err)
	}
	p, err := f.m.Authenticate(ctx, su.Token)
	if err != nil || p.SessionID != res.Principal.SessionID {
		t.Errorf("new token: %+v %v", p, err)
	}
	if c, _ := f.m.PendingChallenge(ctx, p); c != nil {
		t.Error("challenge still pending after it was answered")
	}
}

func TestRecoveryCodeAtStepUp(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.addUser("alice", false)
	key, _ := f.totp.NewKey("alice")
	ctx := context.Background()
	codes, err := f.m.EnrollDirect(ctx, "alice", key.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := f.mustLogin("alice", key.Secret).Principal
	if _, err := f.m.Challenge(ctx, p, "r", 0, deleteWebProd, "delete"); err != nil {
		t.Fatal(err)
	}
	su, err := f.m.StepUp(ctx, p, StepUpRequest{Code: codes[3], Source: "192.0.2.9"})
	if err != nil || !su.UsedRecoveryCode {
		t.Fatalf("recovery code at step-up: %+v %v", su, err)
	}
	if p, err = f.m.Authenticate(ctx, su.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Challenge(ctx, p, "r", 0, deleteWebProd, "delete"); err != nil {
		t.Fatal(err)
	}
	if su, err := f.m.StepUp(ctx, p, StepUpRequest{Code: codes[3], Source: "192.0.2.9"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the same recovery code a second time: %+v %v", su, err)
	}
	if n := f.codesLeft("alice"); n != mfa.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left, want %d", n, mfa.RecoveryCodeCount-1)
	}
	used := f.events("alice", EventRecoveryUse)
	if len(used) != 1 {
		t.Fatalf("%d recovery-code audit events, want 1", len(used))
	}
	if e := used[0]; e.SessionID != p.SessionID || e.Source != "192.0.2.9" || !strings.Contains(e.Detail, "rule r") {
		t.Errorf("recovery-code event = %+v, want session %s, source 192.0.2.9 and the rule", e, p.SessionID)
	}
}
