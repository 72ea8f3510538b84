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

// codeCheck is the outcome of checking a one-time code before the
// account's counters are updated.
type codeCheck struct {
	ok       bool
	step     int64 // TOTP time step to record, 0 for a recovery code
	recovery bool
	err      error // mfa.ErrClockDrift when that is why it failed
}

// Login checks a password and a one-time code and opens a session. Every
// failure, including an unknown user or a locked account, is
// ErrInvalidCredentials after the same password-hashing work; a code from
// a drifted clock (with the right password) also wraps mfa.ErrClockDrift
// so the person can be told to fix their device's clock.
func (m *Manager) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	now := m.now()
	acct, err := m.store.GetAccountByName(ctx, req.User)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("login: %w", err)
	}
	hash := ""
	if acct != nil {
		hash = acct.PasswordHash
	}
	// The hash is verified for every attempt so the work is the same.
	pwOK, err := m.hasher.Verify(ctx, hash, req.Password)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	fail := func(a *Account, detail string) error {
		user := "(unknown)" // never log what was typed: it may be a password
		if a != nil {
			user = a.Name
		}
		m.audit(ctx, AuditEvent{Type: EventLogin, User: user, Source: req.Source, Outcome: OutcomeFailure, Detail: detail})
		return ErrInvalidCredentials
	}
	switch {
	case acct == nil:
		return nil, fail(nil, "unknown user")
	case acct.Disabled:
		return nil, fail(acct, "account disabled")
	case acct.LockActive(now):
		return nil, fail(acct, "account locked")
	}
	check := codeCheck{ok: true}
	if pwOK && acct.TOTPEnrolled() {
		check = m.checkCode(ctx, acct, req.Code, now)
	}
	res, err := m.recordAttempt(ctx, acct.ID, pwOK && check.ok, check.step, now)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	m.auditAttempt(ctx, acct.Name, req.Source, res)
	if !res.ok {
		detail := "wrong password"
		switch {
		case res.locked:
			detail = "account locked"
		case pwOK && res.replay:
			detail = "replayed code"
		case pwOK:
			detail = "wrong code"
		}
		err := fail(acct, detail)
		if pwOK && !res.locked && errors.Is(check.err, mfa.ErrClockDrift) {
			err = fmt.Errorf("%w: %w", ErrInvalidCredentials, mfa.ErrClockDrift)
		}
		return nil, err
	}
	return m.openSession(ctx, res.account, req, check, now)
}

func (m *Manager) openSession(ctx context.Context, a *Account, req LoginRequest, check codeCheck, now time.Time) (*LoginResult, error) {
	enrollOnly := !a.TOTPEnrolled() && m.MFARequired(a)
	token, hash, err := newToken(sessionTokenPrefix)
	if err != nil {
		return nil, err
	}
	r := &SessionRecord{
		ID: newID("s-"), AccountID: a.ID, TokenHash: hash, EnrollmentOnly: enrollOnly,
		Source: req.Source, UserAgent: truncate(req.UserAgent, 200),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(m.abs),
	}
	if a.TOTPEnrolled() {
		r.MFAAt = now
	}
	if err := m.store.CreateSession(ctx, r); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	detail := "password and one-time code"
	switch {
	case check.recovery:
		detail = "password and recovery code"
	case enrollOnly:
		detail = "password; two-factor enrollment required"
	case !a.TOTPEnrolled():
		detail = "password only (two-factor not required)"
	}
	m.audit(ctx, AuditEvent{Type: EventLogin, User: a.Name, SessionID: r.ID, Source: req.Source, Outcome: OutcomeSuccess, Detail: detail})
	out := &LoginResult{Token: token, Principal: principalFor(r, a), EnrollmentRequired: enrollOnly, UsedRecoveryCode: check.recovery}
	if check.recovery {
		out.RecoveryCodesLeft, _ = m.store.RecoveryCodesLeft(ctx, a.ID)
	}
	return out, nil
}

// checkCode checks a TOTP or recovery code for an enrolled account. A
// recovery code is spent here; a TOTP step is only recorded by
// recordAttempt, atomically with the failure counter.
func (m *Manager) checkCode(ctx context.Context, a *Account, code string, now time.Time) codeCheck {
	if mfa.LooksLikeRecoveryCode(code) {
		used, err := m.store.UseRecoveryCode(ctx, a.ID, mfa.HashRecoveryCode(code), now)
		if err != nil || !used {
			return codeCheck{err: err}
		}
		m.audit(ctx, AuditEvent{Type: EventRecoveryUse, User: a.Name, Outcome: OutcomeSuccess})
		return codeCheck{ok: true, recovery: true}
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
	return codeCheck{ok: true, step: step}
}

// attempt is what recordAttempt did to the account.
type attempt struct {
	ok        bool
	locked    bool // the account was locked when the attempt was recorded
	lockedNow bool // this attempt locked it
	unlocked  bool // an expired lock was cleared
	replay    bool
	account   *Account
}

// errLocked aborts recordAttempt's update without writing: attempts
// against a locked account change nothing, so they cannot extend the lock.
var errLocked = errors.New("account locked")

// recordAttempt updates the failure counter and lock atomically. ok says
// whether the credentials checked out; step, when not 0, is the TOTP step
// to record, and a step not newer than the last accepted one turns the
// attempt into a failed replay.
func (m *Manager) recordAttempt(ctx context.Context, accountID string, ok bool, step int64, now time.Time) (attempt, error) {
	var res attempt
	a, err := m.store.UpdateAccount(ctx, accountID, func(a *Account) error {
		res = attempt{}
		if a.LockActive(now) {
			res.locked = true
			return errLocked
		}
		if !a.LockedAt.IsZero() {
			a.LockedAt, a.LockedUntil, a.FailedAttempts = time.Time{}, time.Time{}, 0
			res.unlocked = true
		}
		if ok && step != 0 {
			if step <= a.TOTPLastStep {
				ok, res.replay = false, true
			} else {
				a.TOTPLastStep = step
			}
		}
		if ok {
			a.FailedAttempts, a.LastLoginAt, res.ok = 0, now, true
			return nil
		}
		a.FailedAttempts++
		if m.lock.Enabled && !a.Admin && a.FailedAttempts >= m.lock.FailureTriggers {
			a.LockedAt = now
			if m.lock.Duration > 0 {
				a.LockedUntil = now.Add(m.lock.Duration)
			}
			res.lockedNow = true
		}
		return nil
	})
	if errors.Is(err, errLocked) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.account = a
	return res, nil
}

func (m *Manager) auditAttempt(ctx context.Context, user, source string, res attempt) {
	if res.unlocked {
		m.audit(ctx, AuditEvent{Type: EventUnlock, User: user, Source: source, Outcome: OutcomeSuccess, Detail: "lock expired"})
	}
	if res.lockedNow {
		detail := "until an admin unlocks it"
		if m.lock.Duration > 0 {
			detail = "for " + m.lock.Duration.String()
		}
		m.audit(ctx, AuditEvent{Type: EventLock, User: user, Source: source, Outcome: OutcomeSuccess,
			Detail: fmt.Sprintf("%d failed attempts; locked %s", m.lock.FailureTriggers, detail)})
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
