package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"stepgate.io/stepgate/mfa"
)

func TestLoginSucceedsWithPasswordAndCode(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false, "dev")
	res := f.mustLogin("alice", secret)
	if res.Token == "" || res.EnrollmentRequired {
		t.Fatalf("login result = %+v", res)
	}
	p, err := f.m.Authenticate(context.Background(), res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "alice" || len(p.Groups) != 1 || p.Groups[0] != "dev" || p.MFAAt.IsZero() {
		t.Errorf("principal = %+v", p)
	}
}

// Wrong password, wrong code and unknown user look exactly alike.
func TestLoginFailuresAreGeneric(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	f.nextStep()
	cases := []struct{ name, user, pw, code string }{
		{"wrong password", "alice", "wrong password here", f.code(secret, 0)},
		{"wrong code", "alice", testPassword, "000000"},
		{"unknown user", "mallory", testPassword, "123456"},
		{"empty everything", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.login(tc.user, tc.pw, tc.code)
			if !errors.Is(err, ErrInvalidCredentials) || err.Error() != ErrInvalidCredentials.Error() {
				t.Errorf("err = %v, want exactly %v", err, ErrInvalidCredentials)
			}
		})
	}
}

func TestClockDriftIsReported(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	f.nextStep()
	_, err := f.login("alice", testPassword, f.code(secret, -4))
	if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, mfa.ErrClockDrift) {
		t.Fatalf("drifted code: err = %v, want invalid credentials and clock drift", err)
	}
	// With the wrong password the drift is not revealed.
	_, err = f.login("alice", "wrong password x", f.code(secret, -4))
	if errors.Is(err, mfa.ErrClockDrift) {
		t.Fatal("clock drift revealed without the right password")
	}
}

func TestLoginCodeCannotBeReplayed(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	f.nextStep()
	code := f.code(secret, 0)
	if _, err := f.login("alice", testPassword, code); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("alice", testPassword, code); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("replayed code: err = %v", err)
	}
	// An older step's code is refused too once a newer one was used.
	f.clock.Advance(30 * time.Second)
	if _, err := f.login("alice", testPassword, f.code(secret, -1)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("previous step's code after a newer one: err = %v", err)
	}
}

func TestRecoveryCodeWorksOnce(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.addUser("alice", false)
	key, _ := f.totp.NewKey("alice")
	codes, err := f.m.EnrollDirect(context.Background(), "alice", key.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	res, err := f.login("alice", testPassword, codes[0])
	if err != nil {
		t.Fatal(err)
	}
	if !res.UsedRecoveryCode || res.RecoveryCodesLeft != mfa.RecoveryCodeCount-1 {
		t.Errorf("result = %+v", res)
	}
	if _, err := f.login("alice", testPassword, codes[0]); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("second use of a recovery code: err = %v", err)
	}
	used := f.events("alice", EventRecoveryUse)
	if len(used) != 1 {
		t.Fatalf("%d recovery-code audit events, want 1", len(used))
	}
	if e := used[0]; e.SessionID != res.Principal.SessionID || e.Source != "192.0.2.1" || e.Outcome != OutcomeSuccess {
		t.Errorf("recovery-code event = %+v, want session %s and source 192.0.2.1", e, res.Principal.SessionID)
	}
}

func TestUnknownAndWrongPasswordDoSameWork(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.enrolled("alice", false)
	for _, user := range []string{"alice", "nobody"} {
		before := f.hasher.Work()
		f.login(user, "wrong password x", "")
		if d := f.hasher.Work() - before; d != 1 {
			t.Errorf("%s: %d argon2 computations, want 1", user, d)
		}
	}
}

func TestDisabledAccountCannotSignIn(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	res := f.mustLogin("alice", secret)
	if err := f.m.SetDisabled(context.Background(), "alice", true, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(context.Background(), res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session of a disabled account: err = %v", err)
	}
	f.nextStep()
	if _, err := f.login("alice", testPassword, f.code(secret, 0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login of a disabled account: err = %v", err)
	}
}
