package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Principal is who a request acts as: a person's session or a service
// token. It is shared and read-only; callers must not modify it.
type Principal struct {
	// SessionID identifies the session (or the service token) publicly;
	// it is not the token.
	SessionID string
	// UID is the account's (or the token's) stable id, sent upstream as
	// Impersonate-Uid.
	UID    string
	User   string
	Groups []string
	Admin  bool
	// Machine marks a service token: no TOTP, never able to step up.
	Machine bool
	// EnrollmentOnly sessions may only enroll TOTP.
	EnrollmentOnly bool
	// MFAAt is when this session last checked a one-time code (zero if never).
	MFAAt         time.Time
	ElevatedAt    time.Time
	ElevatedUntil time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// ServiceTokenUser is the user name a service token acts as upstream.
func ServiceTokenUser(name string) string { return "stepgate:token:" + name }

// Authenticate returns the principal for a bearer token. It answers from
// memory for a cached session; a miss reads the store once. Unknown,
// expired, idle and revoked tokens get ErrUnauthenticated, and tokens that
// cannot be ours at all get ErrMalformedToken.
func (m *Manager) Authenticate(ctx context.Context, token string) (*Principal, error) {
	// Only the length is checked before the cache: a cached key comes from
	// a token we issued, so the full format check is needed on a miss only.
	if len(token) != tokenLen {
		return nil, ErrMalformedToken
	}
	// A stack copy keeps the hashing free of allocation.
	var buf [tokenLen]byte
	key := sha256.Sum256(append(buf[:0], token...))
	if m.stale() {
		// Another process changed something (a revocation from the admin
		// CLI, say): apply it before trusting the cache.
		if err := m.syncChanges(ctx); err != nil {
			return nil, fmt.Errorf("authenticate: read change log: %w", err)
		}
	}
	now := m.requestTime()
	if e := m.cache.get(key); e != nil {
		if e.live(now, m.idle) {
			e.lastSeen.Store(now.UnixNano())
			return e.p, nil
		}
		m.cache.drop(key)
		return nil, ErrUnauthenticated
	}
	if !wellFormed(token) {
		return nil, ErrMalformedToken
	}
	e, err := m.load(ctx, key, token[:4], now)
	if err != nil {
		return nil, err
	}
	if !e.live(now, m.idle) {
		return nil, ErrUnauthenticated
	}
	e.lastSeen.Store(now.UnixNano())
	m.cache.put(key, e)
	return e.p, nil
}

func (m *Manager) load(ctx context.Context, key [32]byte, prefix string, now time.Time) (*entry, error) {
	hash := hex.EncodeToString(key[:])
	if prefix == serviceTokenPrefix {
		t, err := m.store.GetServiceTokenByHash(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if !t.RevokedAt.IsZero() {
			return nil, ErrUnauthenticated
		}
		p := &Principal{SessionID: t.ID, UID: t.ID, User: ServiceTokenUser(t.Name), Groups: t.Groups, Machine: true,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
		return &entry{p: p, account: "", noIdle: true}, nil
	}
	r, err := m.store.GetSessionByTokenHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !r.RevokedAt.IsZero() {
		return nil, ErrUnauthenticated
	}
	a, err := m.store.GetAccount(ctx, r.AccountID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if a.Disabled {
		return nil, ErrUnauthenticated
	}
	e := &entry{p: principalFor(r, a), account: a.ID}
	e.lastSeen.Store(r.LastSeenAt.UnixNano())
	e.flushed = r.LastSeenAt.UnixNano()
	return e, nil
}

func principalFor(r *SessionRecord, a *Account) *Principal {
	return &Principal{
		SessionID: r.ID, UID: a.ID, User: a.Name, Groups: a.Groups, Admin: a.Admin,
		EnrollmentOnly: r.EnrollmentOnly, MFAAt: r.MFAAt, ElevatedAt: r.ElevatedAt, ElevatedUntil: r.ElevatedUntil,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
	}
}

// TrackStream registers cancel as a way to end one open request of the
// session (a watch, exec, attach or port-forward) when the session is
// revoked. Call the returned function when the request ends.
func (m *Manager) TrackStream(sessionID string, cancel context.CancelFunc) (release func()) {
	return m.streams.add(sessionID, cancel)
}

// OpenStreams reports how many streams are registered for the session.
func (m *Manager) OpenStreams(sessionID string) int { return m.streams.count(sessionID) }

// entry is a cached principal. lastSeen is updated on every request
// without locks; the flusher writes it to the store now and then.
type entry struct {
	p        *Principal
	account  string
	noIdle   bool
	lastSeen atomic.Int64
	flushed  int64 // guarded by cache.mu
}

func (e *entry) live(now time.Time, idle time.Duration) bool {
	if !e.p.ExpiresAt.IsZero() && !now.Before(e.p.ExpiresAt) {
		return false
	}
	return e.noIdle || now.UnixNano()-e.lastSeen.Load() < int64(idle)
}

// cache maps token hashes to principals. Lookups go through a sync.Map so
// concurrent requests do not contend on a lock; the indexes used to drop
// entries by session or account sit behind mu.
type cache struct {
	m         sync.Map // [32]byte -> *entry
	mu        sync.Mutex
	bySession map[string][32]byte
	byAccount map[string]map[string]struct{}
}

func newCache() *cache {
	return &cache{bySession: map[string][32]byte{}, byAccount: map[string]map[string]struct{}{}}
}

func (c *cache) get(key [32]byte) *entry {
	v, ok := c.m.Load(key)
	if !ok {
		return nil
	}
	return v.(*entry)
}

func (c *cache) put(key [32]byte, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sid := e.p.SessionID
	if old, ok := c.bySession[sid]; ok && old != key {
		c.m.Delete(old) // the session's token was rotated
	}
	c.bySession[sid] = key
	if e.account != "" {
		if c.byAccount[e.account] == nil {
			c.byAccount[e.account] = map[string]struct{}{}
		}
		c.byAccount[e.account][sid] = struct{}{}
	}
	c.m.Store(key, e)
}

func (c *cache) drop(key [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m.LoadAndDelete(key); ok {
		c.unindexLocked(v.(*entry))
	}
}

func (c *cache) dropSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.bySession[id]; ok {
		if v, ok := c.m.LoadAndDelete(key); ok {
			c.unindexLocked(v.(*entry))
		}
		delete(c.bySession, id)
	}
}

func (c *cache) dropAccount(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for sid := range c.byAccount[id] {
		if key, ok := c.bySession[sid]; ok {
			c.m.Delete(key)
			delete(c.bySession, sid)
		}
	}
	delete(c.byAccount, id)
}

func (c *cache) unindexLocked(e *entry) {
	delete(c.bySession, e.p.SessionID)
	if set := c.byAccount[e.account]; set != nil {
		delete(set, e.p.SessionID)
		if len(set) == 0 {
			delete(c.byAccount, e.account)
		}
	}
}

// takeTouched returns the sessions whose last-seen time moved since the
// last call.
func (c *cache) takeTouched() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Time{}
	c.m.Range(func(_, v any) bool {
		e := v.(*entry)
		if e.noIdle {
			return true
		}
		if seen := e.lastSeen.Load(); seen > e.flushed {
			out[e.p.SessionID] = time.Unix(0, seen).UTC()
			e.flushed = seen
		}
		return true
	})
	return out
}

// streams holds the cancel functions of open long-running requests by
// session, and remembers the sessions it closed: a request authenticated
// just before its session was revoked may register just after, and must
// be cancelled then rather than outlive the revocation.
type streams struct {
	mu     sync.Mutex
	next   uint64
	m      map[string]map[uint64]context.CancelFunc
	closed map[string]time.Time // guarded by mu; when each session was closed
}

// closedKeep is how long a closed session is remembered: far longer than
// a request spends between authentication and registering its stream.
const closedKeep = 10 * time.Minute

func newStreams() *streams {
	return &streams{m: map[string]map[uint64]context.CancelFunc{}, closed: map[string]time.Time{}}
}

func (s *streams) add(sessionID string, cancel context.CancelFunc) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dead := s.closed[sessionID]; dead {
		cancel()
		return func() {}
	}
	s.next++
	id := s.next
	if s.m[sessionID] == nil {
		s.m[sessionID] = map[uint64]context.CancelFunc{}
	}
	s.m[sessionID][id] = cancel
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if set := s.m[sessionID]; set != nil {
			delete(set, id)
			if len(set) == 0 {
				delete(s.m, sessionID)
			}
		}
	}
}

func (s *streams) closeSession(sessionID string) {
	s.mu.Lock()
	set := s.m[sessionID]
	delete(s.m, sessionID)
	s.closed[sessionID] = time.Now()
	s.mu.Unlock()
	for _, cancel := range set {
		cancel()
	}
}

// forget drops closed sessions remembered for longer than closedKeep.
func (s *streams) forget(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.closed {
		if now.Sub(at) > closedKeep {
			delete(s.closed, id)
		}
	}
}

func (s *streams) count(sessionID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m[sessionID])
}
