package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"stepgate.io/stepgate/mfa"
)

func TestAuthenticateRefusesBadTokens(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	good := f.mustLogin("alice", secret).Token
	ctx := context.Background()
	cases := []struct {
		name, token string
		want        error
	}{
		{"empty", "", ErrMalformedToken},
		{"api server token", "abcdef.0123456789abcdef", ErrMalformedToken},
		{"jwt", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", ErrMalformedToken},
		{"short", "sgs_abc", ErrMalformedToken},
		{"bad alphabet", "sgs_" + strings.Repeat("!", 43), ErrMalformedToken},
		{"huge", "sgs_" + strings.Repeat("a", 1<<16), ErrMalformedToken},
		{"well formed but unknown", "sgs_" + strings.Repeat("A", 43), ErrUnauthenticated},
		{"unknown service token", "sgt_" + strings.Repeat("B", 43), ErrUnauthenticated},
		{"tampered", good[:len(good)-1] + flip(good[len(good)-1]), ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.m.Authenticate(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.m.idle, f.m.abs = 10*time.Minute, time.Hour
	secret := f.enrolled("alice", false)
	ctx := context.Background()

	idle := f.mustLogin("alice", secret).Token
	f.clock.Advance(11 * time.Minute)
	if _, err := f.m.Authenticate(ctx, idle); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("idle session: err = %v", err)
	}

	busy := f.mustLogin("alice", secret).Token
	for i := 0; i < 6; i++ { // in use every 9 minutes: never idle, 54 minutes old
		f.clock.Advance(9 * time.Minute)
		if _, err := f.m.Authenticate(ctx, busy); err != nil {
			t.Fatalf("busy session after %d min: %v", 9*(i+1), err)
		}
	}
	f.clock.Advance(9 * time.Minute)
	if _, err := f.m.Authenticate(ctx, busy); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session past its absolute timeout: err = %v", err)
	}
}

func TestRevokedSessionRefusedOnNextRequest(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	if _, err := f.m.Authenticate(ctx, res.Token); err != nil { // now cached
		t.Fatal(err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	release := f.m.TrackStream(res.Principal.SessionID, cancel)
	defer release()
	if err := f.m.RevokeSession(ctx, res.Principal.SessionID, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked session: err = %v", err)
	}
	select {
	case <-streamCtx.Done():
	default:
		t.Error("revoking did not close the session's stream")
	}
}

// A stream of a request that was authenticated just before its session
// was revoked, and registers just after, is cancelled at once.
func TestStreamRegisteredAfterRevocationIsCancelled(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	if _, err := f.m.Authenticate(ctx, res.Token); err != nil { // the request passes here...
		t.Fatal(err)
	}
	if err := f.m.RevokeSession(ctx, res.Principal.SessionID, "admin"); err != nil { // ...the admin revokes...
		t.Fatal(err)
	}
	streamCtx, cancel := context.WithCancel(ctx) // ...and then it opens its stream
	defer cancel()
	release := f.m.TrackStream(res.Principal.SessionID, cancel)
	defer release()
	select {
	case <-streamCtx.Done():
	default:
		t.Error("a stream registered after its session was revoked stayed open")
	}
	// Another session of the same person is not affected.
	other := f.mustLogin("alice", secret)
	otherCtx, otherCancel := context.WithCancel(ctx)
	defer otherCancel()
	defer f.m.TrackStream(other.Principal.SessionID, otherCancel)()
	if otherCtx.Err() != nil {
		t.Error("a live session's stream was cancelled")
	}
}

// A second process (the admin CLI) revokes a session on the same SQLite
// file; the serving process refuses the session on its very next request,
// cached or not, and closes its streams then.
func TestRevocationFromAnotherProcess(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	if _, err := f.m.Authenticate(ctx, res.Token); err != nil { // cached now
		t.Fatal(err)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer f.m.TrackStream(res.Principal.SessionID, cancel)()

	other, err := OpenSQLite(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cli, err := New(Options{Store: other, Hasher: f.hasher, Sealer: f.m.sealer, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RevokeUserSessions(ctx, "alice", "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the very next request after a revoke from another process: err = %v", err)
	}
	select {
	case <-streamCtx.Done():
	default:
		t.Error("the stream of a session revoked elsewhere stayed open")
	}
}

// Changes by another process that do not revoke (new groups) also reach
// the cached session on its next request.
func TestGroupChangeFromAnotherProcess(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false, "dev")
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	f.m.Authenticate(ctx, res.Token)
	other, err := OpenSQLite(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cli, _ := New(Options{Store: other, Hasher: f.hasher, Sealer: f.m.sealer, Clock: f.clock.Now})
	if err := cli.SetGroups(ctx, "alice", []string{"ops"}, "cli"); err != nil {
		t.Fatal(err)
	}
	p, err := f.m.Authenticate(ctx, res.Token)
	if err != nil || len(p.Groups) != 1 || p.Groups[0] != "ops" {
		t.Errorf("groups on the next request: %+v %v", p, err)
	}
}

func TestGroupChangeReachesOpenSessions(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false, "dev")
	ctx := context.Background()
	res := f.mustLogin("alice", secret)
	f.m.Authenticate(ctx, res.Token)
	if err := f.m.SetGroups(ctx, "alice", []string{"ops", "dev"}, "admin"); err != nil {
		t.Fatal(err)
	}
	p, err := f.m.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 2 || p.Groups[0] != "ops" {
		t.Errorf("groups = %v", p.Groups)
	}
	if err := f.m.SetGroups(ctx, "alice", []string{"system:masters"}, "admin"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("system: group: err = %v", err)
	}
}

func TestEnrollmentFlow(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.addUser("alice", false, "dev")
	ctx := context.Background()
	res, err := f.login("alice", testPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.EnrollmentRequired || !res.Principal.EnrollmentOnly {
		t.Fatalf("first sign-in without TOTP: %+v", res)
	}
	p, err := f.m.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: "123456", Elevate: time.Minute}); !errors.Is(err, ErrEnrollmentRequired) {
		t.Errorf("enrollment-only session stepped up: %v", err)
	}
	en, err := f.m.BeginEnrollment(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	f.nextStep()
	if _, err := f.m.ConfirmEnrollment(ctx, p, "000000", "test"); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("wrong confirmation code: err = %v", err)
	}
	done, err := f.m.ConfirmEnrollment(ctx, p, f.code(en.Secret, 0), "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(done.RecoveryCodes) != mfa.RecoveryCodeCount {
		t.Errorf("%d recovery codes", len(done.RecoveryCodes))
	}
	if _, err := f.m.Authenticate(ctx, res.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("the pre-enrollment token still works: %v", err)
	}
	p2, err := f.m.Authenticate(ctx, done.Token)
	if err != nil || p2.EnrollmentOnly || p2.MFAAt.IsZero() {
		t.Fatalf("upgraded session: %+v, %v", p2, err)
	}
	// The confirmation code cannot be used again to sign in.
	if _, err := f.login("alice", testPassword, f.code(en.Secret, 0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("confirmation code replayed at sign-in: err = %v", err)
	}
}

func TestPasswordOnlyWhenPolicyAllows(t *testing.T) {
	f := newFixture(t, fixtureOpts{mfaRequired: []string{"admins"}})
	f.addUser("alice", false, "dev")
	res, err := f.login("alice", testPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.EnrollmentRequired {
		t.Error("TOTP not required for dev, yet enrollment was demanded")
	}
	f.addUser("root", false, "admins")
	res, err = f.login("root", testPassword, "")
	if err != nil || !res.EnrollmentRequired {
		t.Errorf("admins must enroll: %+v %v", res, err)
	}
}

func TestDisableTOTP(t *testing.T) {
	ctx := context.Background()
	t.Run("refused when required", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		secret := f.enrolled("alice", false)
		res := f.mustLogin("alice", secret)
		f.nextStep()
		if err := f.m.DisableTOTP(ctx, res.Principal, f.code(secret, 0), "test"); !errors.Is(err, ErrMFARequired) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("allowed otherwise, with a current code", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{mfaRequired: []string{"admins"}})
		secret := f.enrolled("alice", false, "dev")
		res := f.mustLogin("alice", secret)
		if err := f.m.DisableTOTP(ctx, res.Principal, "000000", "test"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("wrong code: err = %v", err)
		}
		f.nextStep()
		if err := f.m.DisableTOTP(ctx, res.Principal, f.code(secret, 0), "test"); err != nil {
			t.Fatal(err)
		}
		if a := f.account("alice"); a.TOTPEnrolled() {
			t.Error("still enrolled")
		}
		if n, _ := f.store.RecoveryCodesLeft(ctx, f.account("alice").ID); n != 0 {
			t.Errorf("%d recovery codes left after disabling", n)
		}
	})
}

func TestResetMFAForcesEnrollment(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	secret := f.enrolled("alice", false)
	ctx := context.Background()
	old := f.mustLogin("alice", secret)
	if err := f.m.ResetMFA(ctx, "alice", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, old.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session survived reset-mfa: %v", err)
	}
	f.nextStep()
	res, err := f.login("alice", testPassword, f.code(secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !res.EnrollmentRequired {
		t.Fatal("after reset-mfa the next sign-in must enroll")
	}
	en, err := f.m.BeginEnrollment(ctx, res.Principal)
	if err != nil {
		t.Fatal(err)
	}
	if en.Secret == secret {
		t.Error("re-enrollment reused the old secret")
	}
}

func TestRegenerateRecoveryCodes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.addUser("alice", false)
	key, _ := f.totp.NewKey("alice")
	ctx := context.Background()
	oldCodes, _ := f.m.EnrollDirect(ctx, "alice", key.Secret, f.clock.Now())
	res := f.mustLogin("alice", key.Secret)
	f.nextStep()
	newCodes, err := f.m.RegenerateRecoveryCodes(ctx, res.Principal, f.code(key.Secret, 0), "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(newCodes) != mfa.RecoveryCodeCount || newCodes[0] == oldCodes[0] {
		t.Fatalf("new codes %v", newCodes)
	}
	if _, err := f.login("alice", testPassword, oldCodes[1]); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old recovery code still works: %v", err)
	}
	if _, err := f.login("alice", testPassword, newCodes[1]); err != nil {
		t.Errorf("new recovery code: %v", err)
	}
}

// recoveryRows returns the account's stored recovery codes (hash and
// used time), in a stable order.
func (f *fixture) recoveryRows(name string) []string {
	f.t.Helper()
	rows, err := f.store.db.QueryContext(context.Background(),
		`SELECT hash, used_at FROM recovery_codes WHERE account_id = ? ORDER BY hash`, f.account(name).ID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var hash string
		var used int64
		if err := rows.Scan(&hash, &used); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s used=%d", hash, used))
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// Regenerating recovery codes needs a current TOTP code: a wrong code and a
// recovery code (which is not a current code, and could be a leaked one)
// are both refused, leave every code as it was, and spend nothing.
func TestRegenerateRecoveryCodesNeedsCurrentCode(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		code func(codes []string) string
	}{
		{"wrong code", func([]string) string { return "000000" }},
		{"recovery code", func(codes []string) string { return codes[2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			secret, codes := f.enrolledWithCodes("alice", false)
			res := f.mustLogin("alice", secret)
			before := f.recoveryRows("alice")
			got, err := f.m.RegenerateRecoveryCodes(ctx, res.Principal, tc.code(codes), "192.0.2.5")
			if !errors.Is(err, ErrInvalidCredentials) || got != nil {
				t.Fatalf("regenerate: %v %v, want ErrInvalidCredentials", got, err)
			}
			if diff := cmp.Diff(before, f.recoveryRows("alice")); diff != "" {
				t.Errorf("recovery codes changed (-before +after):\n%s", diff)
			}
			if n := len(f.events("alice", EventRecoveryRegen)); n != 1 {
				t.Errorf("%d regenerate events, want 1 (the failure)", n)
			}
			if _, err := f.login("alice", testPassword, codes[2]); err != nil {
				t.Errorf("old recovery code after a refused regenerate: %v", err)
			}
		})
	}
}

func TestServiceTokens(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	token, st, err := f.m.CreateServiceToken(ctx, "ci", []string{"deployers"}, time.Hour, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, serviceTokenPrefix) {
		t.Errorf("token %q lacks its prefix", token[:4])
	}
	p, err := f.m.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Machine || p.User != "stepgate:token:ci" || p.Groups[0] != "deployers" || p.SessionID != st.ID {
		t.Errorf("principal = %+v", p)
	}
	if _, _, err := f.m.CreateServiceToken(ctx, "ci", nil, time.Hour, "admin"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate live name: err = %v", err)
	}
	if _, err := f.m.StepUp(ctx, p, StepUpRequest{Code: "123456", Elevate: time.Minute}); !errors.Is(err, ErrMachine) {
		t.Errorf("machine step-up: err = %v", err)
	}
	if err := f.m.RevokeServiceToken(ctx, "ci", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked token: err = %v", err)
	}
	if _, _, err := f.m.CreateServiceToken(ctx, "ci", nil, time.Hour, "admin"); err != nil {
		t.Errorf("name free again after revoke: %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	list, _ := f.m.ListServiceTokens(ctx)
	if len(list) != 2 {
		t.Errorf("%d tokens listed, want 2 (revoked ones stay)", len(list))
	}
}

func TestValidateUserName(t *testing.T) {
	for _, name := range []string{"alice", "a", "alice.smith@example.com", "bob_2", "x-y"} {
		if err := ValidateUserName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", "Alice", "system:admin", "-bob", "bob-", "a b", "a/b", strings.Repeat("a", 65), "ünï"} {
		if err := ValidateUserName(name); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%q accepted", name)
		}
	}
}

// TestCoarseClockOnlyWhileRunning: with the wall clock, Run keeps a coarse
// clock for the per-request check and clears it when it stops; with an
// injected clock (every other test here) the check always reads that
// clock, so advancing it is seen at once.
func TestCoarseClockOnlyWhileRunning(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if f.m.wallClock {
		t.Fatal("a manager with an injected clock uses the wall clock")
	}
	if got, want := f.m.requestTime(), f.clock.Now(); !got.Equal(want) {
		t.Errorf("request time %v, want the injected clock's %v", got, want)
	}
	m, err := New(Options{Store: f.store, Hasher: f.hasher, Sealer: f.m.sealer})
	if err != nil {
		t.Fatal(err)
	}
	if !m.wallClock || m.coarse.Load() != 0 {
		t.Fatalf("before Run: wallClock %t, coarse %d", m.wallClock, m.coarse.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for m.coarse.Load() == 0 {
		select {
		case err := <-done:
			t.Fatalf("Run ended early: %v", err)
		default:
			runtime.Gosched()
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := m.coarse.Load(); n != 0 {
		t.Errorf("coarse clock left at %d after Run ended", n)
	}
}
