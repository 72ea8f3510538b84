package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"stepgate.io/stepgate/mfa"
)

// LockPolicy is the account lockout policy (auth.accountLock in config).
type LockPolicy struct {
	Enabled         bool
	FailureTriggers int
	// Duration is how long a lock lasts; 0 means until an admin unlocks.
	Duration time.Duration
}

// Options configure a Manager. Store, Hasher and Sealer are required.
type Options struct {
	Store  Store
	Hasher *mfa.PasswordHasher
	Sealer *mfa.Sealer
	// TOTP parameters; the zero value means the mfa package defaults.
	TOTP           mfa.TOTP
	PasswordPolicy mfa.PasswordPolicy
	Lock           LockPolicy
	// MFARequiredForGroups lists the groups whose members must use TOTP;
	// "*" means everyone.
	MFARequiredForGroups []string
	IdleTimeout          time.Duration // default 1h
	AbsoluteTimeout      time.Duration // default 12h
	// ChallengeTTL is how long a step-up challenge and a single-use grant
	// last; default 2m.
	ChallengeTTL time.Duration
	// PollInterval is how often Run reads the store's change log; default 250ms.
	PollInterval time.Duration
	Clock        func() time.Time
	Logger       *zap.Logger
}

// Manager is the package's entry point: sign-in, sessions, tokens and
// step-up. It is safe for concurrent use.
type Manager struct {
	store   Store
	hasher  *mfa.PasswordHasher
	sealer  *mfa.Sealer
	totp    mfa.TOTP
	policy  mfa.PasswordPolicy
	lock    LockPolicy
	mfaReq  []string
	idle    time.Duration
	abs     time.Duration
	chTTL   time.Duration
	poll    time.Duration
	now     func() time.Time
	log     *zap.Logger
	cache   *cache
	streams *streams

	// changeMu guards reading the change log; seen is the store version
	// applied so far, read without the lock on the hot path.
	changeMu  sync.Mutex
	changeSeq int64 // -1 until the log's end is known
	seen      atomic.Uint64

	// coarse is the wall clock in Unix nanoseconds, refreshed every
	// coarseEvery by Run when no clock was injected (wallClock); 0 when
	// not running. The cached-session check reads it instead of calling
	// time.Now, which costs about 60 ns on some virtual machines, a third
	// of the check.
	coarse    atomic.Int64
	wallClock bool
}

// coarseEvery is how stale the cached-session check's clock may be:
// nothing about a session's lifetime is that precise.
const coarseEvery = 20 * time.Millisecond

// New checks opts and returns a Manager. Call Run to keep its cache in step
// with changes made by other processes.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Hasher == nil || opts.Sealer == nil {
		return nil, errors.New("session: store, hasher and sealer are required")
	}
	m := &Manager{
		store: opts.Store, hasher: opts.Hasher, sealer: opts.Sealer, totp: opts.TOTP,
		policy: opts.PasswordPolicy, lock: opts.Lock, mfaReq: opts.MFARequiredForGroups,
		idle: opts.IdleTimeout, abs: opts.AbsoluteTimeout, chTTL: opts.ChallengeTTL, poll: opts.PollInterval,
		now: opts.Clock, log: opts.Logger, cache: newCache(), streams: newStreams(), changeSeq: -1,
	}
	if m.policy == (mfa.PasswordPolicy{}) {
		m.policy = mfa.DefaultPasswordPolicy()
	}
	if m.idle <= 0 {
		m.idle = time.Hour
	}
	if m.abs <= 0 {
		m.abs = 12 * time.Hour
	}
	if m.chTTL <= 0 {
		m.chTTL = 2 * time.Minute
	}
	if m.poll <= 0 {
		m.poll = 250 * time.Millisecond
	}
	if m.now == nil {
		m.now, m.wallClock = time.Now, true
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	m.log = m.log.Named("session")
	if m.lock.Enabled && m.lock.FailureTriggers < 1 {
		return nil, errors.New("session: lock failure triggers must be at least 1")
	}
	return m, nil
}

// Store returns the store the manager uses.
func (m *Manager) Store() Store { return m.store }

// Now returns the manager's clock reading.
func (m *Manager) Now() time.Time { return m.now() }

// Run follows the store's change log, dropping cached sessions that changed
// elsewhere and closing the streams of revoked ones, flushes last-seen
// times and prunes expired records, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.syncChanges(ctx); err != nil {
		return fmt.Errorf("session: read change log: %w", err)
	}
	if m.wallClock {
		done := m.runCoarseClock(ctx)
		defer done()
	}
	tick := time.NewTicker(m.poll)
	defer tick.Stop()
	lastFlush, lastPrune := m.now(), time.Time{}
	for {
		select {
		case <-ctx.Done():
			m.flushTouched(context.WithoutCancel(ctx))
			return nil
		case <-tick.C:
		}
		if err := m.syncChanges(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("read change log", zap.Error(err))
		}
		now := m.now()
		if now.Sub(lastFlush) >= 30*time.Second {
			m.flushTouched(ctx)
			lastFlush = now
		}
		if now.Sub(lastPrune) >= 10*time.Minute {
			if err := m.store.Prune(ctx, now); err != nil && ctx.Err() == nil {
				m.log.Warn("prune store", zap.Error(err))
			}
			m.streams.forget(time.Now())
			lastPrune = now
		}
	}
}

// runCoarseClock keeps m.coarse within coarseEvery of the wall clock
// until ctx ends; the returned func waits for that and clears it, so a
// stopped manager reads the real clock again.
func (m *Manager) runCoarseClock(ctx context.Context) func() {
	m.coarse.Store(time.Now().UnixNano())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(coarseEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				// The time now, not the tick's: after a pause (a stopped
				// process, a suspended VM) the tick's time is long past.
				m.coarse.Store(time.Now().UnixNano())
			}
		}
	}()
	return func() {
		<-stopped
		m.coarse.Store(0)
	}
}

// requestTime is the clock for the per-request session check: the coarse
// clock while Run keeps it, else the manager's clock.
func (m *Manager) requestTime() time.Time {
	if n := m.coarse.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return m.now()
}

// syncChanges applies the change-log entries written since the last call,
// by this process or another. The first call only finds the log's end.
func (m *Manager) syncChanges(ctx context.Context) error {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	version := m.store.Version()
	if m.changeSeq < 0 {
		_, last, err := m.store.Changes(ctx, -1)
		if err != nil {
			return err
		}
		m.changeSeq = last
		m.seen.Store(version)
		return nil
	}
	changes, next, err := m.store.Changes(ctx, m.changeSeq)
	if err != nil {
		return err
	}
	for _, c := range changes {
		m.invalidate(ctx, c)
	}
	m.changeSeq = next
	m.seen.Store(version)
	return nil
}

// stale reports whether the store changed since the change log was last
// applied: one memory load, on every request.
func (m *Manager) stale() bool { return m.store.Version() != m.seen.Load() }

// invalidate drops what a change makes stale. A revoked session's streams
// are closed; other session changes (rotation, elevation) only refresh it.
func (m *Manager) invalidate(ctx context.Context, c Change) {
	switch c.Kind {
	case ChangeSession:
		m.cache.dropSession(c.Ref)
		if r, err := m.store.GetSession(ctx, c.Ref); errors.Is(err, ErrNotFound) || (err == nil && !r.RevokedAt.IsZero()) {
			m.streams.closeSession(c.Ref)
		}
	case ChangeAccount:
		m.cache.dropAccount(c.Ref)
	case ChangeToken:
		m.cache.dropSession(c.Ref)
		m.streams.closeSession(c.Ref)
	}
}

func (m *Manager) flushTouched(ctx context.Context) {
	batch := m.cache.takeTouched()
	if err := m.store.TouchSessions(ctx, batch); err != nil {
		m.log.Warn("record last-seen times", zap.Error(err))
	}
}

// Token prefixes tell session tokens from service tokens at a glance, and
// let secret scanners find leaked ones.
const (
	sessionTokenPrefix = "sgs_"
	serviceTokenPrefix = "sgt_"
	tokenRandomBytes   = 32
	// tokenLen is the length of every token: a 4-byte prefix and 32 bytes
	// in unpadded base64url.
	tokenLen = 4 + 43
)

var tokenEncoding = base64.RawURLEncoding

func newToken(prefix string) (token, hash string, err error) {
	b := make([]byte, tokenRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	token = prefix + tokenEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether token has a known prefix and exactly the
// encoded length of 32 random bytes in the URL-safe alphabet.
func wellFormed(token string) bool {
	var body string
	switch {
	case strings.HasPrefix(token, sessionTokenPrefix):
		body = token[len(sessionTokenPrefix):]
	case strings.HasPrefix(token, serviceTokenPrefix):
		body = token[len(serviceTokenPrefix):]
	default:
		return false
	}
	if len(body) != tokenEncoding.EncodedLen(tokenRandomBytes) {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a short random public identifier such as "s-mfrggzdfmztwq2lk".
func newID(prefix string) string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // rand.Read never fails on Linux
	}
	return prefix + strings.ToLower(idEncoding.EncodeToString(b))
}

// audit records an authentication event in the store and the log. A store
// failure is logged, not returned: the event that caused it already happened.
func (m *Manager) audit(ctx context.Context, e AuditEvent) {
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	if err := m.store.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		m.log.Error("store audit event", zap.String("type", e.Type), zap.Error(err))
	}
	m.logEvent(e)
}

// logEvent writes an authentication event, already stored, to the log.
func (m *Manager) logEvent(e AuditEvent) {
	if ce := m.log.Check(zap.InfoLevel, "auth event"); ce != nil {
		ce.Write(zap.String("type", e.Type), zap.String("user", e.User), zap.String("session", e.SessionID),
			zap.String("source", e.Source), zap.String("outcome", e.Outcome), zap.String("detail", e.Detail))
	}
}

// Audit lets other packages (the API, the CLI) record an authentication
// event of their own, such as an admin action.
func (m *Manager) Audit(ctx context.Context, e AuditEvent) { m.audit(ctx, e) }

func groupsRequireMFA(required, groups []string) bool {
	for _, r := range required {
		if r == "*" {
			return true
		}
		for _, g := range groups {
			if g == r {
				return true
			}
		}
	}
	return false
}

// MFARequired reports whether policy makes TOTP mandatory for a.
func (m *Manager) MFARequired(a *Account) bool { return groupsRequireMFA(m.mfaReq, a.Groups) }
