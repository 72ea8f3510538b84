package session

import (
	"context"
	"sync"
	"testing"
	"time"
)

// tracingStore wraps a Store and records the name of every method called
// on it, so tests can compare the store work of two code paths exactly.
// after, when set, runs after each call (with the method's name) and may
// change the store underneath, to stage a race deterministically.
type tracingStore struct {
	Store
	mu    sync.Mutex
	calls []string
	after func(method string)
}

var _ Store = (*tracingStore)(nil)

// writeMethods are the Store methods that write (each in one transaction).
var writeMethods = map[string]bool{
	"CreateAccount": true, "UpdateAccount": true, "RecordAttempt": true, "DeleteAccount": true,
	"SetRecoveryCodes": true, "UseRecoveryCode": true, "CreateSession": true, "UpdateSession": true,
	"RevokeSessions": true, "TouchSessions": true, "CreateServiceToken": true, "RevokeServiceToken": true,
	"PutChallenge": true, "DeleteChallenge": true, "CreateGrant": true, "ConsumeGrant": true,
	"AppendAudit": true, "Prune": true,
}

func (s *tracingStore) record(method string) {
	s.mu.Lock()
	s.calls = append(s.calls, method)
	after := s.after
	s.mu.Unlock()
	if after != nil {
		after(method)
	}
}

// take returns the calls recorded since the last take.
func (s *tracingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

func (s *tracingStore) setAfter(fn func(method string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after = fn
}

func (s *tracingStore) CreateAccount(ctx context.Context, a *Account) error {
	defer s.record("CreateAccount")
	return s.Store.CreateAccount(ctx, a)
}

func (s *tracingStore) GetAccount(ctx context.Context, id string) (*Account, error) {
	defer s.record("GetAccount")
	return s.Store.GetAccount(ctx, id)
}

func (s *tracingStore) GetAccountByName(ctx context.Context, name string) (*Account, error) {
	defer s.record("GetAccountByName")
	return s.Store.GetAccountByName(ctx, name)
}

func (s *tracingStore) ListAccounts(ctx context.Context) ([]Account, error) {
	defer s.record("ListAccounts")
	return s.Store.ListAccounts(ctx)
}

func (s *tracingStore) UpdateAccount(ctx context.Context, id string, fn func(*Account) error) (*Account, error) {
	defer s.record("UpdateAccount")
	return s.Store.UpdateAccount(ctx, id, fn)
}

func (s *tracingStore) RecordAttempt(ctx context.Context, accountID, recoveryHash string, now time.Time, decide func(*Attempt)) error {
	defer s.record("RecordAttempt")
	return s.Store.RecordAttempt(ctx, accountID, recoveryHash, now, decide)
}

func (s *tracingStore) DeleteAccount(ctx context.Context, id string) error {
	defer s.record("DeleteAccount")
	return s.Store.DeleteAccount(ctx, id)
}

func (s *tracingStore) SetRecoveryCodes(ctx context.Context, accountID string, hashes []string) error {
	defer s.record("SetRecoveryCodes")
	return s.Store.SetRecoveryCodes(ctx, accountID, hashes)
}

func (s *tracingStore) UseRecoveryCode(ctx context.Context, accountID, hash string, now time.Time) (bool, error) {
	defer s.record("UseRecoveryCode")
	return s.Store.UseRecoveryCode(ctx, accountID, hash, now)
}

func (s *tracingStore) RecoveryCodesLeft(ctx context.Context, accountID string) (int, error) {
	defer s.record("RecoveryCodesLeft")
	return s.Store.RecoveryCodesLeft(ctx, accountID)
}

func (s *tracingStore) CreateSession(ctx context.Context, r *SessionRecord) error {
	defer s.record("CreateSession")
	return s.Store.CreateSession(ctx, r)
}

func (s *tracingStore) GetSessionByTokenHash(ctx context.Context, tokenHash string) (*SessionRecord, error) {
	defer s.record("GetSessionByTokenHash")
	return s.Store.GetSessionByTokenHash(ctx, tokenHash)
}

func (s *tracingStore) GetSession(ctx context.Context, id string) (*SessionRecord, error) {
	defer s.record("GetSession")
	return s.Store.GetSession(ctx, id)
}

func (s *tracingStore) UpdateSession(ctx context.Context, id string, fn func(*SessionRecord) error) (*SessionRecord, error) {
	defer s.record("UpdateSession")
	return s.Store.UpdateSession(ctx, id, fn)
}

func (s *tracingStore) ListSessions(ctx context.Context, accountID string, now time.Time) ([]SessionRecord, error) {
	defer s.record("ListSessions")
	return s.Store.ListSessions(ctx, accountID, now)
}

func (s *tracingStore) RevokeSessions(ctx context.Context, id, accountID string, now time.Time) ([]string, error) {
	defer s.record("RevokeSessions")
	return s.Store.RevokeSessions(ctx, id, accountID, now)
}

func (s *tracingStore) TouchSessions(ctx context.Context, lastSeen map[string]time.Time) error {
	defer s.record("TouchSessions")
	return s.Store.TouchSessions(ctx, lastSeen)
}

func (s *tracingStore) CreateServiceToken(ctx context.Context, t *ServiceToken) error {
	defer s.record("CreateServiceToken")
	return s.Store.CreateServiceToken(ctx, t)
}

func (s *tracingStore) GetServiceTokenByHash(ctx context.Context, tokenHash string) (*ServiceToken, error) {
	defer s.record("GetServiceTokenByHash")
	return s.Store.GetServiceTokenByHash(ctx, tokenHash)
}

func (s *tracingStore) ListServiceTokens(ctx context.Context) ([]ServiceToken, error) {
	defer s.record("ListServiceTokens")
	return s.Store.ListServiceTokens(ctx)
}

func (s *tracingStore) RevokeServiceToken(ctx context.Context, name string, now time.Time) (*ServiceToken, error) {
	defer s.record("RevokeServiceToken")
	return s.Store.RevokeServiceToken(ctx, name, now)
}

func (s *tracingStore) PutChallenge(ctx context.Context, c *Challenge) error {
	defer s.record("PutChallenge")
	return s.Store.PutChallenge(ctx, c)
}

func (s *tracingStore) GetChallenge(ctx context.Context, sessionID string) (*Challenge, error) {
	defer s.record("GetChallenge")
	return s.Store.GetChallenge(ctx, sessionID)
}

func (s *tracingStore) DeleteChallenge(ctx context.Context, sessionID string) error {
	defer s.record("DeleteChallenge")
	return s.Store.DeleteChallenge(ctx, sessionID)
}

func (s *tracingStore) CreateGrant(ctx context.Context, g *Grant) error {
	defer s.record("CreateGrant")
	return s.Store.CreateGrant(ctx, g)
}

func (s *tracingStore) ConsumeGrant(ctx context.Context, sessionID, rule string, req Request, now time.Time) (bool, error) {
	defer s.record("ConsumeGrant")
	return s.Store.ConsumeGrant(ctx, sessionID, rule, req, now)
}

func (s *tracingStore) WindowOpen(ctx context.Context, sessionID, rule string, maxAge time.Duration, now time.Time) (bool, error) {
	defer s.record("WindowOpen")
	return s.Store.WindowOpen(ctx, sessionID, rule, maxAge, now)
}

func (s *tracingStore) AppendAudit(ctx context.Context, e *AuditEvent) error {
	defer s.record("AppendAudit")
	return s.Store.AppendAudit(ctx, e)
}

func (s *tracingStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	defer s.record("ListAudit")
	return s.Store.ListAudit(ctx, f)
}

func (s *tracingStore) Changes(ctx context.Context, after int64) ([]Change, int64, error) {
	defer s.record("Changes")
	return s.Store.Changes(ctx, after)
}

func (s *tracingStore) Prune(ctx context.Context, now time.Time) error {
	defer s.record("Prune")
	return s.Store.Prune(ctx, now)
}

// tracedFixture is a fixture whose Manager goes through a tracingStore.
func tracedFixture(t testing.TB, o fixtureOpts) (*fixture, *tracingStore) {
	var ts *tracingStore
	o.wrap = func(s Store) Store {
		ts = &tracingStore{Store: s}
		return ts
	}
	return newFixture(t, o), ts
}
