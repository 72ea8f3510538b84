package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"stepgate.io/stepgate/mfa"
)

// LoginRequest is one sign-in attempt. Source is the client address, for
// the audit trail.
type LoginRequest struct {
	User      string
	Password  string
	Code      string // a TOTP code or a recovery code; empty if not enrolled
	Source    string
	UserAgent string
}

// LoginResult is a successful sign-in.
type LoginResult struct {
	// Token is the bearer token; it is shown to the client once and never
	// stored.
	Token     string
	Principal *Principal
	// EnrollmentRequired means the account must enroll TOTP before the
	// session can do anything else.
	EnrollmentRequired bool
	UsedRecoveryCode   bool
	RecoveryCodesLeft  int
}

// codeCheck is what can be told about a one-time code before the attempt
// is recorded. A TOTP code is verified; its step is recorded (or refused as
// a replay) with the failure counter. A recovery code is only recognised;
// it is looked up and spent inside the attempt's transaction.
type codeCheck struct {
	ok              bool   // a valid TOTP code
	step            int64  // its time step
	recovery        bool   // looks like a recovery code, and one is allowed here
	recoveryHash    string // its hash, when recovery
	recoveryRefused bool   // looks like a recovery code, and none is allowed here
	err             error  // mfa.ErrClockDrift when that is why it failed
	// secret is the sealed TOTP secret the code was checked against, so
	// the attempt fails if the secret changed before it was recorded.
	secret string
}

// Login checks a password and a one-time code and opens a session. Every
// failure, including an unknown user or a locked account, is
// ErrInvalidCredentials after the same password-hashing work and the same
// store work (one committed transaction recording the failure); a code from
// a drifted clock (with the right password) also wraps mfa.ErrClockDrift
// so the person can be told to fix their device's clock.
func (m *Manager) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	now := m.now()
	acct, err := m.store.GetAccountByName(ctx, req.User)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("login: %w", err)
	}
	hash, id := "", ""
	if acct != nil {
		hash, id = acct.PasswordHash, acct.ID
	}
	// The hash is verified for every attempt so the work is the same.
	pwOK, err := m.hasher.Verify(ctx, hash, req.Password)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	// The code is checked whatever the account's lock or disabled state, so
	// not even the password's owner can tell a locked account by the work.
	var check codeCheck
	if acct != nil && pwOK && acct.TOTPEnrolled() {
		check = m.checkCode(acct, req.Code, now, true)
	}
	sid := newID("s-") // named now so a recovery code's audit event can name it
	token, tokenHash, err := newToken(sessionTokenPrefix)
	if err != nil {
		return nil, err
	}
	var rec *SessionRecord
	res, err := m.attempt(ctx, attemptInput{
		accountID: id, pwOK: pwOK, pwHash: hash, check: check, signIn: true,
		// "(unknown)": never log what was typed, it may be a password.
		fail:        AuditEvent{Type: EventLogin, User: "(unknown)", Source: req.Source, Outcome: OutcomeFailure},
		recoveryUse: AuditEvent{Type: EventRecoveryUse, SessionID: sid, Source: req.Source, Outcome: OutcomeSuccess, Detail: "at sign-in"},
		// The session is created in the attempt's transaction, so a password
		// change or reset-mfa cannot fall between the check and the session
		// and leave a session made with the old credentials.
		open: func(a *Account, recovery bool, e *AuditEvent) *SessionRecord {
			rec = m.newSessionRecord(a, sid, tokenHash, req, now)
			e.Detail = loginDetail(a, rec, recovery)
			return rec
		},
	}, now)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if !res.ok {
		if pwOK && !res.refused && errors.Is(check.err, mfa.ErrClockDrift) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidCredentials, mfa.ErrClockDrift)
		}
		return nil, ErrInvalidCredentials
	}
	out := &LoginResult{Token: token, Principal: principalFor(rec, res.account), EnrollmentRequired: rec.EnrollmentOnly, UsedRecoveryCode: res.recovery}
	if res.recovery {
		out.RecoveryCodesLeft, _ = m.store.RecoveryCodesLeft(ctx, res.account.ID)
	}
	return out, nil
}

// newSessionRecord is the session a successful sign-in to a opens.
func (m *Manager) newSessionRecord(a *Account, sid, tokenHash string, req LoginRequest, now time.Time) *SessionRecord {
	r := &SessionRecord{
		ID: sid, AccountID: a.ID, TokenHash: tokenHash, EnrollmentOnly: !a.TOTPEnrolled() && m.MFARequired(a),
		Source: req.Source, UserAgent: truncate(req.UserAgent, 200),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(m.abs),
	}
	if a.TOTPEnrolled() {
		r.MFAAt = now
	}
	return r
}

func loginDetail(a *Account, r *SessionRecord, recovery bool) string {
	switch {
	case recovery:
		return "password and recovery code"
	case r.EnrollmentOnly:
		return "password; two-factor enrollment required"
	case !a.TOTPEnrolled():
		return "password only (two-factor not required)"
	}
	return "password and one-time code"
}

// checkCode looks at a code for an enrolled account without touching the
// store: a TOTP code is verified; a recovery code (when allowRecovery) is
// only hashed, to be checked and spent by attempt.
func (m *Manager) checkCode(a *Account, code string, now time.Time, allowRecovery bool) codeCheck {
	if mfa.LooksLikeRecoveryCode(code) {
		if !allowRecovery {
			return codeCheck{recoveryRefused: true}
		}
		return codeCheck{recovery: true, recoveryHash: mfa.HashRecoveryCode(code)}
	}
	secret, err := m.sealer.Open(a.TOTPSecret, []byte(a.ID))
	if err != nil {
		m.log.Error("open totp secret: wrong key or damaged record")
		return codeCheck{err: err}
	}
	step, err := m.totp.Check(string(secret), code, now)
	if err != nil {
		return codeCheck{err: err}
	}
	return codeCheck{ok: true, step: step, secret: a.TOTPSecret}
}

// attemptInput is one sign-in or code attempt for attempt to record.
type attemptInput struct {
	accountID string // "" when no account has the name
	pwOK      bool   // the password checked out; true where none is asked
	// pwHash is the password hash pwOK was checked against ("" where no
	// password is asked); if the account's differs by the time the attempt
	// is recorded (an admin set a new password meanwhile), it fails.
	pwHash string
	// open, for a sign-in, returns the session to create with the attempt
	// when it succeeds, and fills in the success event's detail.
	open func(a *Account, recovery bool, success *AuditEvent) *SessionRecord
	// codeRequired asks for a code even if the account has no TOTP (a
	// step-up); otherwise one is needed only when the account has TOTP.
	codeRequired bool
	check        codeCheck
	signIn       bool // a success counts as the account's last sign-in
	// fail is the event recorded when the attempt fails; its Detail, if
	// any, is followed by the reason, and User is set to the account's name
	// when there is an account.
	fail AuditEvent
	// recoveryUse is the event recorded when a recovery code is spent.
	recoveryUse AuditEvent
}

// attemptResult is what attempt did.
type attemptResult struct {
	ok        bool
	refused   bool // unknown, disabled or locked: nothing was counted
	locked    bool // the account was locked when the attempt was recorded
	lockedNow bool // this attempt locked it
	unlocked  bool // an expired lock was cleared
	replay    bool
	recovery  bool // a recovery code was spent
	account   *Account
}

// attempt records an attempt and its audit events in one store
// transaction, whatever the outcome, so that failures against unknown,
// disabled, locked and counting accounts cost the store the same.
func (m *Manager) attempt(ctx context.Context, in attemptInput, now time.Time) (attemptResult, error) {
	var (
		res    attemptResult
		events []AuditEvent
	)
	err := m.store.RecordAttempt(ctx, in.accountID, in.check.recoveryHash, now, func(at *Attempt) {
		res = m.decide(&in, at, now)
		events = at.Events
	})
	if err != nil {
		return attemptResult{}, err
	}
	for _, e := range events {
		m.logEvent(e)
	}
	return res, nil
}

// decide is the lockout policy, run inside the attempt's transaction on the
// account as it is now. Attempts against a locked account change nothing,
// so they cannot extend the lock; an expired lock is cleared first, so the
// count starts again. A recovery code is spent only when the attempt
// succeeds.
func (m *Manager) decide(in *attemptInput, at *Attempt, now time.Time) attemptResult {
	var res attemptResult
	a := at.Account
	switch {
	case a == nil:
		res.refused = true
		addEvent(at, in.fail, now, "unknown user")
		return res
	case a.Disabled:
		res.refused = true
		addEvent(at, in.fail, now, "account disabled")
		return res
	case a.LockActive(now):
		res.refused, res.locked = true, true
		addEvent(at, in.fail, now, "account locked")
		return res
	}
	at.Write, res.account = true, a
	if !a.LockedAt.IsZero() {
		a.LockedAt, a.LockedUntil, a.FailedAttempts = time.Time{}, time.Time{}, 0
		res.unlocked = true
		addEvent(at, in.note(EventUnlock), now, "lock expired")
	}
	needCode := in.codeRequired || a.TOTPEnrolled()
	recovery := needCode && in.check.recovery
	// Credentials checked against what the account held before this
	// transaction count only if the account still holds them.
	pwOK := in.pwOK && (!in.signIn || a.PasswordHash == in.pwHash)
	codeOK := in.check.ok && in.check.secret == a.TOTPSecret
	ok := pwOK && (!needCode || codeOK || recovery && at.RecoveryUnused)
	if ok && needCode && !recovery {
		if in.check.step <= a.TOTPLastStep {
			ok, res.replay = false, true
		} else {
			a.TOTPLastStep = in.check.step
		}
	}
	if !ok {
		m.countFailure(in, at, &res, now, pwOK)
		return res
	}
	a.FailedAttempts, res.ok = 0, true
	if in.signIn {
		a.LastLoginAt = now
	}
	if recovery {
		at.SpendRecovery, res.recovery = true, true
		addEvent(at, in.recoveryUse, now, "")
	}
	if in.open != nil {
		success := AuditEvent{Type: EventLogin, Source: in.fail.Source, Outcome: OutcomeSuccess}
		at.Session = in.open(a, recovery, &success)
		success.SessionID = at.Session.ID
		addEvent(at, success, now, "")
	}
	return res
}

// countFailure counts a failed attempt and locks the account when the
// policy says so (never an admin's).
func (m *Manager) countFailure(in *attemptInput, at *Attempt, res *attemptResult, now time.Time, pwOK bool) {
	a := at.Account
	a.FailedAttempts++
	if m.lock.Enabled && !a.Admin && a.FailedAttempts >= m.lock.FailureTriggers {
		a.LockedAt = now
		if m.lock.Duration > 0 {
			a.LockedUntil = now.Add(m.lock.Duration)
		}
		res.lockedNow = true
	}
	addEvent(at, in.fail, now, failureDetail(in, *res, pwOK))
	if res.lockedNow {
		how := "until an admin unlocks it"
		if m.lock.Duration > 0 {
			how = "for " + m.lock.Duration.String()
		}
		addEvent(at, in.note(EventLock), now, fmt.Sprintf("%d failed attempts; locked %s", m.lock.FailureTriggers, how))
	}
}

// note is an event of type typ about the attempt's session and source.
func (in *attemptInput) note(typ string) AuditEvent {
	return AuditEvent{Type: typ, SessionID: in.fail.SessionID, Source: in.fail.Source, Outcome: OutcomeSuccess}
}

// addEvent appends e to the attempt's events at now, naming the account
// when there is one and adding detail after e's own.
func addEvent(at *Attempt, e AuditEvent, now time.Time, detail string) {
	e.Time = now
	if at.Account != nil {
		e.User = at.Account.Name
	}
	switch {
	case e.Detail == "":
		e.Detail = detail
	case detail != "":
		e.Detail += ": " + detail
	}
	at.Events = append(at.Events, e)
}

func failureDetail(in *attemptInput, res attemptResult, pwOK bool) string {
	switch {
	case in.pwOK && !pwOK:
		return "password changed during the attempt"
	case !in.pwOK:
		return "wrong password"
	case res.replay:
		return "replayed code"
	case in.check.recovery:
		return "unknown or used recovery code"
	case in.check.recoveryRefused:
		return "recovery code not accepted here"
	}
	return "wrong code"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
