package session

import (
	"context"
	"errors"
	"testing"
	"time"
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

func TestGrantIsBoundToTheExactRequestAndSingleUse(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	ctx := context.Background()
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "prod-delete", 0, deleteWebProd); ok {
		t.Fatal("satisfied before any code")
	}
	p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
	others := map[string]Request{
		"other pod":         {Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "api"},
		"other namespace":   {Verb: "delete", Resource: "pods", Namespace: "prod-us", Name: "web"},
		"deletecollection":  {Verb: "deletecollection", Resource: "pods", Namespace: "prod-eu"},
		"other subresource": {Verb: "delete", Resource: "pods", Subresource: "status", Namespace: "prod-eu", Name: "web"},
	}
	for name, req := range others {
		if ok, _ := f.m.StepUpSatisfied(ctx, p, "prod-delete", 0, req); ok {
			t.Errorf("grant for delete pods/web in prod-eu let through %s", name)
		}
	}
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "other-rule", 0, deleteWebProd); ok {
		t.Error("grant crossed to another rule")
	}
	if ok, err := f.m.StepUpSatisfied(ctx, p, "prod-delete", 0, deleteWebProd); !ok || err != nil {
		t.Fatalf("the granted request: %v %v", ok, err)
	}
	if ok, _ := f.m.StepUpSatisfied(ctx, p, "prod-delete", 0, deleteWebProd); ok {
		t.Error("a single-use grant worked twice")
	}
}

func TestGrantExpires(t *testing.T) {
	f, p, secret := stepUpFixture(t, fixtureOpts{})
	p = f.answer(p, secret, "prod-delete", 0, deleteWebProd)
	f.clock.Advance(2*time.Minute + time.Second)
	if ok, _ := f.m.StepUpSatisfied(context.Background(), p, "prod-delete", 0, deleteWebProd); ok {
		t.Error("grant still works after 2 minutes")
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
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: code}); !errors.Is(err, ErrInvalidCredentials) {
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
	codes, _ := f.m.EnrollDirect(ctx, "alice", key.Secret, f.clock.Now())
	res := f.mustLogin("alice", key.Secret)
	f.m.Challenge(ctx, res.Principal, "r", 0, deleteWebProd, "delete")
	su, err := f.m.StepUp(ctx, res.Principal, StepUpRequest{Code: codes[3]})
	if err != nil || !su.UsedRecoveryCode {
		t.Fatalf("recovery code at step-up: %+v %v", su, err)
	}
}
