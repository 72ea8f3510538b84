package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"stepgate.io/stepgate/mfa"
)

// Enrollment is a TOTP secret waiting for its confirmation code.
type Enrollment struct {
	Secret string // base32, for manual entry
	URL    string // otpauth:// URL, for the QR code
}

// EnrollResult is a confirmed enrollment. RecoveryCodes are shown once.
type EnrollResult struct {
	Token         string
	RecoveryCodes []string
}

func (m *Manager) personalAccount(ctx context.Context, p *Principal) (*Account, error) {
	if p.Machine {
		return nil, ErrMachine
	}
	return m.store.GetAccount(ctx, p.UID)
}

// BeginEnrollment makes a new TOTP secret for the principal's account and
// keeps it (sealed) until ConfirmEnrollment. An account that already has
// TOTP must switch it off (or have an admin reset it) first.
func (m *Manager) BeginEnrollment(ctx context.Context, p *Principal) (*Enrollment, error) {
	a, err := m.personalAccount(ctx, p)
	if err != nil {
		return nil, err
	}
	if a.TOTPEnrolled() {
		return nil, fmt.Errorf("%w: two-factor authentication is already set up", ErrInvalidInput)
	}
	key, err := m.totp.NewKey(a.Name)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	sealed, err := m.sealer.Seal([]byte(key.Secret), []byte(a.ID))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if _, err := m.store.UpdateAccount(ctx, a.ID, func(a *Account) error { a.TOTPPending = sealed; return nil }); err != nil {
		return nil, err
	}
	return &Enrollment{Secret: key.Secret, URL: key.URL}, nil
}

// ConfirmEnrollment switches TOTP on once the person shows a code from the
// new secret, makes ten recovery codes, and upgrades the session (new
// token, no longer enrollment-only).
func (m *Manager) ConfirmEnrollment(ctx context.Context, p *Principal, code, source string) (*EnrollResult, error) {
	a, err := m.personalAccount(ctx, p)
	if err != nil {
		return nil, err
	}
	if a.TOTPPending == "" {
		return nil, fmt.Errorf("%w: start enrollment first", ErrInvalidInput)
	}
	secret, err := m.sealer.Open(a.TOTPPending, []byte(a.ID))
	if err != nil {
		return nil, fmt.Errorf("enroll: open pending secret: %w", err)
	}
	now := m.now()
	step, err := m.totp.Check(string(secret), code, now)
	if err != nil {
		return nil, err // mfa.ErrInvalidCode or mfa.ErrClockDrift: the person can try again
	}
	codes, hashes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	pending := a.TOTPPending
	if _, err := m.store.UpdateAccount(ctx, a.ID, func(a *Account) error {
		if a.TOTPPending != pending {
			return fmt.Errorf("%w: enrollment changed meanwhile; start again", ErrInvalidInput)
		}
		a.TOTPSecret, a.TOTPPending, a.TOTPLastStep = pending, "", step
		return nil
	}); err != nil {
		return nil, err
	}
	if err := m.store.SetRecoveryCodes(ctx, a.ID, hashes); err != nil {
		return nil, err
	}
	token, _, err := m.rotate(ctx, p.SessionID, func(r *SessionRecord) { r.EnrollmentOnly, r.MFAAt = false, now })
	if err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventEnroll, User: a.Name, SessionID: p.SessionID, Source: source, Outcome: OutcomeSuccess})
	return &EnrollResult{Token: token, RecoveryCodes: codes}, nil
}

// verifyCurrentCode checks a code for an action the person confirms with
// their device (step-up, switching TOTP off, new recovery codes); it counts
// toward the lockout exactly like a sign-in code, and records fail (with
// the reason) when it fails. allowRecovery lets a recovery code stand in for
// TOTP; it is spent, and recoveryUse recorded, only if the attempt succeeds.
func (m *Manager) verifyCurrentCode(ctx context.Context, a *Account, code string, allowRecovery bool, fail, recoveryUse AuditEvent) (attemptResult, error) {
	if !a.TOTPEnrolled() {
		return attemptResult{}, ErrNotEnrolled
	}
	now := m.now()
	check := m.checkCode(a, code, now, allowRecovery)
	res, err := m.attempt(ctx, attemptInput{
		accountID: a.ID, pwOK: true, codeRequired: true, check: check, fail: fail, recoveryUse: recoveryUse,
	}, now)
	if err != nil {
		return res, err
	}
	if !res.ok {
		switch {
		case res.refused:
		case errors.Is(check.err, mfa.ErrClockDrift):
			return res, fmt.Errorf("%w: %w", ErrInvalidCredentials, mfa.ErrClockDrift)
		case res.replay:
			return res, fmt.Errorf("%w: %w", ErrInvalidCredentials, ErrCodeReused)
		}
		return res, ErrInvalidCredentials
	}
	return res, nil
}

// DisableTOTP switches TOTP off for the principal's own account after a
// current code, unless policy requires it for one of the account's groups.
func (m *Manager) DisableTOTP(ctx context.Context, p *Principal, code, source string) error {
	a, err := m.personalAccount(ctx, p)
	if err != nil {
		return err
	}
	if m.MFARequired(a) {
		return ErrMFARequired
	}
	fail := AuditEvent{Type: EventMFADisable, User: a.Name, SessionID: p.SessionID, Source: source, Outcome: OutcomeFailure}
	if _, err := m.verifyCurrentCode(ctx, a, code, false, fail, AuditEvent{}); err != nil {
		return err
	}
	if err := m.clearTOTP(ctx, a.ID); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventMFADisable, User: a.Name, SessionID: p.SessionID, Source: source, Outcome: OutcomeSuccess})
	return nil
}

// ResetMFA is the admin's way out for a lost device: it removes the
// account's TOTP secret and recovery codes and ends its sessions, so the
// person enrolls again at the next sign-in.
func (m *Manager) ResetMFA(ctx context.Context, name, actor string) error {
	a, err := m.store.GetAccountByName(ctx, name)
	if err != nil {
		return err
	}
	if err := m.clearTOTP(ctx, a.ID); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventMFAReset, User: name, Outcome: OutcomeSuccess, Detail: "by " + actor})
	_, err = m.revokeAccountSessions(ctx, a, actor)
	return err
}

func (m *Manager) clearTOTP(ctx context.Context, accountID string) error {
	if _, err := m.store.UpdateAccount(ctx, accountID, func(a *Account) error {
		a.TOTPSecret, a.TOTPPending = "", ""
		return nil
	}); err != nil {
		return err
	}
	m.cache.dropAccount(accountID)
	return m.store.SetRecoveryCodes(ctx, accountID, nil)
}

// RegenerateRecoveryCodes replaces all of the principal's recovery codes
// after a current TOTP code and returns the new ones, to be shown once. A
// recovery code is not a current code: it is refused (and not spent), so
// someone holding only a leaked recovery code cannot mint a fresh set.
func (m *Manager) RegenerateRecoveryCodes(ctx context.Context, p *Principal, code, source string) ([]string, error) {
	a, err := m.personalAccount(ctx, p)
	if err != nil {
		return nil, err
	}
	fail := AuditEvent{Type: EventRecoveryRegen, User: a.Name, SessionID: p.SessionID, Source: source, Outcome: OutcomeFailure}
	if _, err := m.verifyCurrentCode(ctx, a, code, false, fail, AuditEvent{}); err != nil {
		return nil, err
	}
	codes, hashes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := m.store.SetRecoveryCodes(ctx, a.ID, hashes); err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventRecoveryRegen, User: a.Name, SessionID: p.SessionID, Source: source, Outcome: OutcomeSuccess})
	return codes, nil
}

// EnrollDirect enrolls a known secret, bypassing confirmation. The
// demo uses it to hand a newcomer a ready account; it returns the recovery
// codes.
func (m *Manager) EnrollDirect(ctx context.Context, name, secret string, at time.Time) ([]string, error) {
	a, err := m.store.GetAccountByName(ctx, name)
	if err != nil {
		return nil, err
	}
	sealed, err := m.sealer.Seal([]byte(secret), []byte(a.ID))
	if err != nil {
		return nil, err
	}
	codes, hashes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if _, err := m.store.UpdateAccount(ctx, a.ID, func(a *Account) error {
		a.TOTPSecret, a.TOTPPending, a.TOTPLastStep = sealed, "", 0
		return nil
	}); err != nil {
		return nil, err
	}
	if err := m.store.SetRecoveryCodes(ctx, a.ID, hashes); err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventEnroll, User: name, Outcome: OutcomeSuccess, Detail: "enrolled directly", Time: at})
	return codes, nil
}
