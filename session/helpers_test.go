package session

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"stepgate.io/stepgate/mfa"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a Manager on a real SQLite file with cheap argon2 settings.
type fixture struct {
	t      testing.TB
	m      *Manager
	store  *SQLiteStore
	hasher *mfa.PasswordHasher
	clock  *clock
	totp   mfa.TOTP
	path   string
}

type fixtureOpts struct {
	lock        LockPolicy
	mfaRequired []string
	// wrap, when set, wraps the SQLite store the Manager uses (fixture.store
	// stays the bare one).
	wrap func(Store) Store
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stepgate.db")
	store, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hasher, err := mfa.NewPasswordHasher(mfa.PasswordHasherOptions{Params: mfa.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}, MaxConcurrent: 4})
	if err != nil {
		t.Fatal(err)
	}
	key, err := mfa.NewKeyBytes()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := mfa.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	if o.mfaRequired == nil {
		o.mfaRequired = []string{"*"}
	}
	c := newClock()
	var ms Store = store
	if o.wrap != nil {
		ms = o.wrap(store)
	}
	m, err := New(Options{
		Store: ms, Hasher: hasher, Sealer: sealer, Lock: o.lock, MFARequiredForGroups: o.mfaRequired,
		Clock: c.Now, PasswordPolicy: mfa.PasswordPolicy{MinLength: 12, MaxLength: 256},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, m: m, store: store, hasher: hasher, clock: c, path: path}
}

const testPassword = "correct horse battery staple"

// addUser creates an account and returns it.
func (f *fixture) addUser(name string, admin bool, groups ...string) *Account {
	f.t.Helper()
	a, err := f.m.CreateAccount(context.Background(), NewAccount{Name: name, Password: testPassword, Groups: groups, Admin: admin}, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// enrolled creates an account with TOTP switched on and returns its secret.
func (f *fixture) enrolled(name string, admin bool, groups ...string) string {
	f.t.Helper()
	f.addUser(name, admin, groups...)
	key, err := f.totp.NewKey(name)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.m.EnrollDirect(context.Background(), name, key.Secret, f.clock.Now()); err != nil {
		f.t.Fatal(err)
	}
	return key.Secret
}

// code returns the TOTP code for secret at the fixture's clock, offset by
// steps time steps.
func (f *fixture) code(secret string, steps int) string {
	f.t.Helper()
	c, err := f.totp.Code(secret, f.clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the start of the next TOTP step, so a new
// code is valid (codes are single-use per step).
func (f *fixture) nextStep() {
	now := f.clock.Now()
	f.clock.Advance(30*time.Second - time.Duration(now.Unix()%30)*time.Second - time.Duration(now.Nanosecond()))
}

func (f *fixture) login(user, password, code string) (*LoginResult, error) {
	return f.m.Login(context.Background(), LoginRequest{User: user, Password: password, Code: code, Source: "192.0.2.1"})
}

func (f *fixture) mustLogin(user, secret string) *LoginResult {
	f.t.Helper()
	f.nextStep()
	res, err := f.login(user, testPassword, f.code(secret, 0))
	if err != nil {
		f.t.Fatalf("login %s: %v", user, err)
	}
	return res
}

func (f *fixture) account(name string) *Account {
	f.t.Helper()
	a, err := f.store.GetAccountByName(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// enrolledWithCodes is enrolled, also returning the account's recovery
// codes.
func (f *fixture) enrolledWithCodes(name string, admin bool, groups ...string) (string, []string) {
	f.t.Helper()
	f.addUser(name, admin, groups...)
	key, err := f.totp.NewKey(name)
	if err != nil {
		f.t.Fatal(err)
	}
	codes, err := f.m.EnrollDirect(context.Background(), name, key.Secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return key.Secret, codes
}

// codesLeft counts the named account's unused recovery codes.
func (f *fixture) codesLeft(name string) int {
	f.t.Helper()
	n, err := f.store.RecoveryCodesLeft(context.Background(), f.account(name).ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// events returns the stored audit events of user with type typ, oldest
// first.
func (f *fixture) events(user, typ string) []AuditEvent {
	f.t.Helper()
	all, err := f.store.ListAudit(context.Background(), AuditFilter{User: user})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []AuditEvent
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// lockNow locks the named account for an hour behind the Manager's back,
// as another process would.
func (f *fixture) lockNow(name string) {
	f.t.Helper()
	now := f.clock.Now()
	if _, err := f.store.UpdateAccount(context.Background(), f.account(name).ID, func(a *Account) error {
		a.LockedAt, a.LockedUntil = now, now.Add(time.Hour)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}
