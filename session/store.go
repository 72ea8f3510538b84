package session

import (
	"context"
	"time"
)

// Store keeps all of the package's state. Every method is safe for
// concurrent use by several processes sharing the same backing database;
// methods documented as atomic must be so across processes, because the
// lockout counter and single-use codes depend on it.
//
// Each mutation that a cache may hold (a session, an account, a service
// token) appends an entry to the change log in the same transaction.
type Store interface {
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, id string) (*Account, error)
	GetAccountByName(ctx context.Context, name string) (*Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// UpdateAccount reads the account, calls fn and writes what fn left,
	// atomically: no other UpdateAccount of the same account interleaves.
	// If fn returns an error nothing is written and that error is returned.
	UpdateAccount(ctx context.Context, id string, fn func(*Account) error) (*Account, error)
	// RecordAttempt records one sign-in or one-time-code attempt in exactly
	// one committed write transaction, whatever its outcome. It reads the
	// account with accountID (nil in the Attempt when none has it, which is
	// how an unknown user's attempt is recorded), checks whether
	// recoveryHash, when not "", is one of the account's unused recovery
	// codes, and calls decide; then, in the same transaction, it writes the
	// account back if decide set Write, marks the recovery code used at now
	// if decide set SpendRecovery, creates decide's Session if it set one,
	// and appends decide's Events. No other
	// RecordAttempt or UpdateAccount of the account interleaves. decide must
	// do nothing but fill in the Attempt. Because every attempt commits one
	// transaction, the store's timing does not tell an unknown user, a
	// disabled or locked account and a counted failure apart (the rows
	// written differ a little; the commit, which dominates, is the same).
	RecordAttempt(ctx context.Context, accountID, recoveryHash string, now time.Time, decide func(*Attempt)) error
	DeleteAccount(ctx context.Context, id string) error

	// SetRecoveryCodes replaces the account's recovery codes (hashes only).
	SetRecoveryCodes(ctx context.Context, accountID string, hashes []string) error
	// UseRecoveryCode marks an unused code as used, atomically; it reports
	// false if no unused code has that hash.
	UseRecoveryCode(ctx context.Context, accountID, hash string, now time.Time) (bool, error)
	// RecoveryCodesLeft counts the account's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, accountID string) (int, error)

	CreateSession(ctx context.Context, s *SessionRecord) error
	GetSessionByTokenHash(ctx context.Context, tokenHash string) (*SessionRecord, error)
	GetSession(ctx context.Context, id string) (*SessionRecord, error)
	// UpdateSession is the session counterpart of UpdateAccount.
	UpdateSession(ctx context.Context, id string, fn func(*SessionRecord) error) (*SessionRecord, error)
	// ListSessions lists sessions that are not revoked and not expired at
	// now; accountID "" lists every account's.
	ListSessions(ctx context.Context, accountID string, now time.Time) ([]SessionRecord, error)
	// RevokeSessions revokes the live sessions with the given id, or all of
	// an account's when id is "", and returns the ids it revoked.
	RevokeSessions(ctx context.Context, id, accountID string, now time.Time) ([]string, error)
	// TouchSessions records last-seen times in bulk.
	TouchSessions(ctx context.Context, lastSeen map[string]time.Time) error

	CreateServiceToken(ctx context.Context, t *ServiceToken) error
	GetServiceTokenByHash(ctx context.Context, tokenHash string) (*ServiceToken, error)
	ListServiceTokens(ctx context.Context) ([]ServiceToken, error)
	// RevokeServiceToken revokes the live token with that name.
	RevokeServiceToken(ctx context.Context, name string, now time.Time) (*ServiceToken, error)

	// PutChallenge records the session's pending step-up, replacing any.
	PutChallenge(ctx context.Context, c *Challenge) error
	GetChallenge(ctx context.Context, sessionID string) (*Challenge, error)
	DeleteChallenge(ctx context.Context, sessionID string) error
	CreateGrant(ctx context.Context, g *Grant) error
	// ConsumeGrant marks one unused, unexpired single-use grant of the
	// session for exactly rule and req as used, atomically, and reports
	// whether there was one.
	ConsumeGrant(ctx context.Context, sessionID, rule string, req Request, now time.Time) (bool, error)
	// WindowOpen reports whether a window grant of the session for rule is
	// open at now and was opened less than maxAge before now, so a window
	// opened under a longer maxAge than the rule has today closes early.
	WindowOpen(ctx context.Context, sessionID, rule string, maxAge time.Duration, now time.Time) (bool, error)

	AppendAudit(ctx context.Context, e *AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Version is a cheap counter (one memory load) that moves whenever any
	// process commits a change, so a caller can decide per request whether
	// to read Changes.
	Version() uint64
	// Changes returns change-log entries after seq, oldest first; with
	// seq < 0 it returns none and the current last seq.
	Changes(ctx context.Context, after int64) ([]Change, int64, error)
	// Prune deletes what has expired before now (sessions, challenges,
	// grants, old change-log entries).
	Prune(ctx context.Context, now time.Time) error
	Close() error
}

// Attempt is one sign-in or one-time-code attempt as RecordAttempt hands it
// to its decide function, and what that function made of it.
type Attempt struct {
	// Account is the account as read in the transaction, nil when there is
	// none. decide may change it; it is written back only if Write is set.
	Account *Account
	// RecoveryUnused reports whether the recovery code offered (by hash) is
	// one of Account's unused codes.
	RecoveryUnused bool

	// Write asks for Account to be written back.
	Write bool
	// SpendRecovery asks for the offered recovery code to be marked used;
	// it is only valid when RecoveryUnused is true.
	SpendRecovery bool
	// Session, when set, is created in the same transaction (a successful
	// sign-in), so no change to the account can fall between the check of
	// its credentials and the session they open.
	Session *SessionRecord
	// Events are appended to the audit trail in the same transaction.
	Events []AuditEvent
}
