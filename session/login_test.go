package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"stepgate.io/stepgate/mfa"
)

func lockPolicy(triggers int, d time.Duration) fixtureOpts {
	return fixtureOpts{lock: LockPolicy{Enabled: true, FailureTriggers: triggers, Duration: d}}
}

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

// MKE: after failureTriggers consecutive failures the account is locked
// for durationSeconds.
func TestLockAfterFailureTriggers(t *testing.T) {
	f := newFixture(t, lockPolicy(3, 10*time.Minute))
	secret := f.enrolled("alice", false)
	f.nextStep()
	// Mix wrong passwords and wrong codes: both count.
	f.login("alice", "wrong password 1", f.code(secret, 0))
	f.login("alice", testPassword, "000000")
	if a := f.account("alice"); a.FailedAttempts != 2 || !a.LockedAt.IsZero() {
		t.Fatalf("after 2 failures: attempts %d locked %v", a.FailedAttempts, a.LockedAt)
	}
	f.login("alice", "wrong password 3", "")
	a := f.account("alice")
	if a.LockedAt.IsZero() || !a.LockedUntil.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("not locked for 10m: lockedAt %v until %v", a.LockedAt, a.LockedUntil)
	}
	f.nextStep()
	if _, err := f.login("alice", testPassword, f.code(secret, 0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("right credentials on a locked account: err = %v", err)
	}
	f.clock.Advance(10 * time.Minute)
	f.mustLogin("alice", secret)
}

// MKE: durationSeconds 0 means locked until an admin unlocks it.
func TestLockUntilAdminUnlocks(t *testing.T) {
	f := newFixture(t, lockPolicy(2, 0))
	secret := f.enrolled("alice", false)
	f.login("alice", "wrong password 1", "")
	f.login("alice", "wrong password 2", "")
	f.clock.Advance(1000 * time.Hour)
	f.nextStep()
	if _, err := f.login("alice", testPassword, f.code(secret, 0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("still expected locked after 1000h, err = %v", err)
	}
	if err := f.m.Unlock(context.Background(), "alice", "admin"); err != nil {
		t.Fatal(err)
	}
	f.mustLogin("alice", secret)
}

// MKE: attempts against a locked account do not extend the lock.
func TestLockedAttemptsDoNotExtend(t *testing.T) {
	f := newFixture(t, lockPolicy(2, 10*time.Minute))
	f.enrolled("alice", false)
	f.login("alice", "wrong password 1", "")
	f.login("alice", "wrong password 2", "")
	until := f.account("alice").LockedUntil
	for i := 0; i < 5; i++ {
		f.clock.Advance(time.Minute)
		f.login("alice", "wrong password again", "")
	}
	a := f.account("alice")
	if !a.LockedUntil.Equal(until) || a.FailedAttempts != 2 {
		t.Errorf("lock moved: until %v (was %v), attempts %d", a.LockedUntil, until, a.FailedAttempts)
	}
}

// MKE: a locked account gets exactly the same error, status and work as a
// wrong password (and an unknown user).
func TestLockedAccountLooksLikeWrongPassword(t *testing.T) {
	f := newFixture(t, lockPolicy(1, time.Hour))
	secret := f.enrolled("alice", false)
	f.enrolled("bob", false)
	f.login("bob", "wrong password 1", "") // locks bob
	f.nextStep()
	attempt := func(user, pw, code string) (error, int64) {
		before := f.hasher.Work()
		_, err := f.login(user, pw, code)
		return err, f.hasher.Work() - before
	}
	wrongErr, wrongWork := attempt("alice", "wrong password x", f.code(secret, 0))
	lockedErr, lockedWork := attempt("bob", testPassword, "123456")
	unknownErr, unknownWork := attempt("nobody", testPassword, "123456")
	for name, err := range map[string]error{"wrong password": wrongErr, "locked": lockedErr, "unknown": unknownErr} {
		if err == nil || err.Error() != ErrInvalidCredentials.Error() {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if wrongWork != 1 || lockedWork != 1 || unknownWork != 1 {
		t.Errorf("argon2 work: wrong password %d, locked %d, unknown %d; want 1 each", wrongWork, lockedWork, unknownWork)
	}
}

// MKE: admin accounts are never locked.
func TestAdminNeverLocked(t *testing.T) {
	f := newFixture(t, lockPolicy(2, time.Hour))
	secret := f.enrolled("root", true)
	for i := 0; i < 10; i++ {
		f.login("root", "wrong password x", "")
	}
	if a := f.account("root"); !a.LockedAt.IsZero() {
		t.Fatalf("admin locked at %v", a.LockedAt)
	}
	f.mustLogin("root", secret)
}

// MKE: an expired lock is cleared on the next attempt; until then admins
// still see it as locked.
func TestExpiredLockClearedOnNextAttempt(t *testing.T) {
	f := newFixture(t, lockPolicy(2, 10*time.Minute))
	secret := f.enrolled("alice", false)
	f.login("alice", "wrong password 1", "")
	f.login("alice", "wrong password 2", "")
	f.clock.Advance(11 * time.Minute)
	st, err := f.m.AccountStatus(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Locked {
		t.Fatal("admins should still see the expired lock until the next attempt")
	}
	f.nextStep()
	f.mustLogin("alice", secret)
	if st, _ := f.m.AccountStatus(context.Background(), "alice"); st.Locked || st.FailedAttempts != 0 {
		t.Errorf("after the next attempt: locked %t, failures %d", st.Locked, st.FailedAttempts)
	}
	// A wrong attempt right after an expired lock starts a fresh count.
	f.login("alice", "wrong password 3", "")
	if a := f.account("alice"); a.FailedAttempts != 1 || !a.LockedAt.IsZero() {
		t.Errorf("fresh count: attempts %d, locked %v", a.FailedAttempts, a.LockedAt)
	}
}

// MKE: a successful sign-in resets the counter.
func TestSuccessResetsCounter(t *testing.T) {
	f := newFixture(t, lockPolicy(3, time.Hour))
	secret := f.enrolled("alice", false)
	f.login("alice", "wrong password 1", "")
	f.login("alice", "wrong password 2", "")
	f.mustLogin("alice", secret)
	if a := f.account("alice"); a.FailedAttempts != 0 {
		t.Fatalf("attempts = %d after success", a.FailedAttempts)
	}
	f.login("alice", "wrong password 3", "")
	f.login("alice", "wrong password 4", "")
	if a := f.account("alice"); !a.LockedAt.IsZero() {
		t.Fatal("locked after 2 failures following a success; the counter was not reset")
	}
}

// The counter is exact under concurrency: 50 parallel wrong attempts on the
// real SQLite store count exactly up to the trigger, lock once, and no
// attempt (not even a right one racing them) gets through after the lock.
func TestLockCounterExactUnderConcurrency(t *testing.T) {
	const triggers = 5
	f := newFixture(t, lockPolicy(triggers, time.Hour))
	secret := f.enrolled("alice", false)
	f.nextStep()
	good := f.code(secret, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 51)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.login("alice", "wrong password x", "000000")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong attempt: err = %v", err)
		}
	}
	a := f.account("alice")
	if a.FailedAttempts != triggers || a.LockedAt.IsZero() {
		t.Fatalf("attempts = %d (want exactly %d), locked at %v", a.FailedAttempts, triggers, a.LockedAt)
	}
	events, err := f.store.ListAudit(context.Background(), AuditFilter{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	locks, failures := 0, 0
	for _, e := range events {
		switch {
		case e.Type == EventLock:
			locks++
		case e.Type == EventLogin && e.Outcome == OutcomeFailure:
			failures++
		}
	}
	if locks != 1 || failures != 50 {
		t.Errorf("audit: %d lock events (want 1), %d failed sign-ins (want 50)", locks, failures)
	}
	if _, err := f.login("alice", testPassword, good); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("right credentials after the lock: err = %v", err)
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
	events, _ := f.store.ListAudit(context.Background(), AuditFilter{User: "alice"})
	used := 0
	for _, e := range events {
		if e.Type == EventRecoveryUse {
			used++
		}
	}
	if used != 1 {
		t.Errorf("%d recovery-code audit events, want 1", used)
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
