package session

import (
	"errors"
	"time"
)

// Errors returned by the Manager and the Store. Callers map them to HTTP
// answers with errors.Is; ErrInvalidCredentials deliberately covers unknown
// users, wrong passwords, wrong codes, disabled and locked accounts.
var (
	ErrNotFound           = errors.New("not found")
	ErrExists             = errors.New("already exists")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrUnauthenticated    = errors.New("no valid session")
	ErrMalformedToken     = errors.New("malformed token")
	ErrEnrollmentRequired = errors.New("two-factor enrollment required")
	ErrNotEnrolled        = errors.New("two-factor authentication is not set up for this account")
	ErrMFARequired        = errors.New("two-factor authentication is required for this account")
	ErrNoChallenge        = errors.New("no step-up is pending for this session")
	ErrMachine            = errors.New("service tokens cannot do this")
	ErrForbidden          = errors.New("forbidden")
	ErrInvalidInput       = errors.New("invalid input")
	// ErrCodeReused wraps ErrInvalidCredentials when a signed-in person
	// offers a code that was already used (sign-in never says so).
	ErrCodeReused = errors.New("that one-time code was already used; wait for the next one")
)

// Account is a person who signs in. PasswordHash, TOTPSecret and
// TOTPPending are never shown outside this package's callers that need them.
type Account struct {
	ID       string
	Name     string
	Groups   []string
	Admin    bool
	Disabled bool

	PasswordHash string
	// TOTPSecret is the sealed TOTP seed; empty means TOTP is not enrolled.
	TOTPSecret string
	// TOTPPending is a sealed seed whose enrollment is not yet confirmed.
	TOTPPending string
	// TOTPLastStep is the last time step whose code was accepted; codes of
	// this step or earlier are replays.
	TOTPLastStep int64

	FailedAttempts int
	// LockedAt is when the account was locked; zero when it is not.
	LockedAt time.Time
	// LockedUntil is when the lock ends; zero with a non-zero LockedAt means
	// until an admin unlocks it.
	LockedUntil time.Time
	LastLoginAt time.Time
	CreatedAt   time.Time
}

// TOTPEnrolled reports whether the account has a confirmed TOTP secret.
func (a *Account) TOTPEnrolled() bool { return a.TOTPSecret != "" }

// LockActive reports whether the lock still refuses sign-ins at now.
func (a *Account) LockActive(now time.Time) bool {
	return !a.LockedAt.IsZero() && (a.LockedUntil.IsZero() || now.Before(a.LockedUntil))
}

// SessionRecord is a stored session. TokenHash is the SHA-256 of the
// bearer token, hex encoded.
type SessionRecord struct {
	ID             string
	AccountID      string
	TokenHash      string
	EnrollmentOnly bool
	Source         string
	UserAgent      string
	CreatedAt      time.Time
	LastSeenAt     time.Time
	ExpiresAt      time.Time
	MFAAt          time.Time
	ElevatedAt     time.Time
	ElevatedUntil  time.Time
	RevokedAt      time.Time
}

// ServiceToken is a machine credential minted by an admin.
type ServiceToken struct {
	ID        string
	Name      string
	Groups    []string
	TokenHash string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Request is what a step-up is bound to: one Kubernetes request's
// attributes as the proxy parsed them.
type Request struct {
	Verb        string `json:"verb"`
	APIGroup    string `json:"apiGroup,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	Path        string `json:"path,omitempty"`
}

// Challenge is a step-up the session was asked for and has not answered.
type Challenge struct {
	ID          string        `json:"id"`
	SessionID   string        `json:"-"`
	Rule        string        `json:"rule"`
	MaxAge      time.Duration `json:"-"`
	Request     Request       `json:"request"`
	Description string        `json:"description"`
	CreatedAt   time.Time     `json:"createdAt"`
	ExpiresAt   time.Time     `json:"expiresAt"`
}

// Grant lets a session pass a step-up rule: once for exactly Request, or,
// when Window is set, for every request of Rule until ExpiresAt.
type Grant struct {
	ID        string
	SessionID string
	Rule      string
	Window    bool
	Request   Request
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// AuditEvent is one authentication event kept in the store.
type AuditEvent struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	User      string    `json:"user,omitempty"`
	SessionID string    `json:"sessionID,omitempty"`
	Source    string    `json:"source,omitempty"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail,omitempty"`
}

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	User  string
	Since time.Time
	Limit int
}

// Change is one entry of the store's change log, which tells caches in
// other processes what to drop.
type Change struct {
	Seq  int64
	Kind string // ChangeSession, ChangeAccount or ChangeToken
	Ref  string // the session, account or token id
}

// Change kinds.
const (
	ChangeSession = "session"
	ChangeAccount = "account"
	ChangeToken   = "token"
)

// Audit event types kept in the store.
const (
	EventLogin           = "login"
	EventLogout          = "logout"
	EventLock            = "account.lock"
	EventUnlock          = "account.unlock"
	EventAccountCreate   = "account.create"
	EventAccountDelete   = "account.delete"
	EventAccountUpdate   = "account.update"
	EventEnroll          = "mfa.enroll"
	EventMFADisable      = "mfa.disable"
	EventMFAReset        = "mfa.reset"
	EventRecoveryUse     = "mfa.recovery-code"
	EventRecoveryRegen   = "mfa.recovery-regenerate"
	EventSessionRevoke   = "session.revoke"
	EventStepUpChallenge = "stepup.challenge"
	EventStepUpGrant     = "stepup.grant"
	EventStepUpFail      = "stepup.fail"
	EventElevate         = "stepup.elevate"
	EventTokenCreate     = "token.create"
	EventTokenRevoke     = "token.revoke"
	OutcomeSuccess       = "success"
	OutcomeFailure       = "failure"
)
