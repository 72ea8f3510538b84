package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// NewAccount describes an account to create.
type NewAccount struct {
	Name     string
	Password string
	Groups   []string
	Admin    bool
}

// AccountStatus is what admins see of an account: the 2FA compliance and
// lock report. It never carries secrets.
type AccountStatus struct {
	Name              string     `json:"name"`
	Groups            []string   `json:"groups"`
	Admin             bool       `json:"admin"`
	Disabled          bool       `json:"disabled"`
	TOTPEnrolled      bool       `json:"totpEnrolled"`
	MFARequired       bool       `json:"mfaRequired"`
	Locked            bool       `json:"locked"`
	LockedUntil       *time.Time `json:"lockedUntil,omitempty"`
	FailedAttempts    int        `json:"failedAttempts"`
	LastLoginAt       *time.Time `json:"lastLoginAt,omitempty"`
	RecoveryCodesLeft int        `json:"recoveryCodesLeft"`
	CreatedAt         time.Time  `json:"createdAt"`
}

// ValidateUserName checks an account name: 1 to 64 characters of lower-case
// letters, digits and . _ @ -, starting and ending with a letter or digit.
// Colons are refused so no name can pose as a Kubernetes system identity.
func ValidateUserName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w: user name must be 1 to 64 characters", ErrInvalidInput)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(name)-1 || !strings.ContainsRune("._@-", rune(c))) {
			return fmt.Errorf("%w: user name %q may hold only a-z, 0-9 and . _ @ - (starting and ending with a letter or digit)", ErrInvalidInput, name)
		}
	}
	return nil
}

// ValidateGroups checks group names: non-empty, at most 128 bytes, no
// control characters, and not in the "system:" namespace, which belongs to
// Kubernetes (system:masters would bypass RBAC entirely).
func ValidateGroups(groups []string) error {
	if len(groups) > 100 {
		return fmt.Errorf("%w: at most 100 groups", ErrInvalidInput)
	}
	for _, g := range groups {
		if g == "" || len(g) > 128 || strings.ContainsFunc(g, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%w: group %q must be 1 to 128 printable characters", ErrInvalidInput, g)
		}
		if strings.HasPrefix(g, "system:") {
			return fmt.Errorf("%w: group %q: the system: prefix belongs to Kubernetes; bind RBAC to a group of your own instead", ErrInvalidInput, g)
		}
	}
	return nil
}

// CreateAccount adds an account after checking the name, groups and the
// password policy.
func (m *Manager) CreateAccount(ctx context.Context, n NewAccount, actor string) (*Account, error) {
	if err := ValidateUserName(n.Name); err != nil {
		return nil, err
	}
	if err := ValidateGroups(n.Groups); err != nil {
		return nil, err
	}
	if err := m.policy.Check(n.Name, n.Password); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	hash, err := m.hasher.Hash(ctx, n.Password)
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	a := &Account{ID: newID("u-"), Name: n.Name, Groups: dedupe(n.Groups), Admin: n.Admin, PasswordHash: hash, CreatedAt: m.now()}
	if err := m.store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventAccountCreate, User: a.Name, Outcome: OutcomeSuccess,
		Detail: fmt.Sprintf("by %s; groups %v; admin %t", actor, a.Groups, a.Admin)})
	return a, nil
}

// Account returns the named account.
func (m *Manager) Account(ctx context.Context, name string) (*Account, error) {
	return m.store.GetAccountByName(ctx, name)
}

// updateByName applies fn to the named account atomically.
func (m *Manager) updateByName(ctx context.Context, name string, fn func(*Account) error) (*Account, error) {
	a, err := m.store.GetAccountByName(ctx, name)
	if err != nil {
		return nil, err
	}
	a, err = m.store.UpdateAccount(ctx, a.ID, fn)
	if err != nil {
		return nil, err
	}
	m.cache.dropAccount(a.ID)
	return a, nil
}

// SetPassword replaces an account's password and ends its sessions.
func (m *Manager) SetPassword(ctx context.Context, name, password, actor string) error {
	if err := m.policy.Check(name, password); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	hash, err := m.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	a, err := m.updateByName(ctx, name, func(a *Account) error { a.PasswordHash = hash; return nil })
	if err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventAccountUpdate, User: name, Outcome: OutcomeSuccess, Detail: "password changed by " + actor})
	_, err = m.revokeAccountSessions(ctx, a, actor)
	return err
}

// SetGroups replaces an account's groups; open sessions pick them up on
// their next request.
func (m *Manager) SetGroups(ctx context.Context, name string, groups []string, actor string) error {
	if err := ValidateGroups(groups); err != nil {
		return err
	}
	groups = dedupe(groups)
	if _, err := m.updateByName(ctx, name, func(a *Account) error { a.Groups = groups; return nil }); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventAccountUpdate, User: name, Outcome: OutcomeSuccess,
		Detail: fmt.Sprintf("groups set to %v by %s", groups, actor)})
	return nil
}

// SetAdmin grants or takes away the admin flag. Admins are never locked,
// so making a locked account an admin clears its lock, and the failure
// count starts again.
func (m *Manager) SetAdmin(ctx context.Context, name string, admin bool, actor string) error {
	var unlocked bool
	if _, err := m.updateByName(ctx, name, func(a *Account) error {
		a.Admin, unlocked = admin, false
		if admin {
			unlocked = !a.LockedAt.IsZero()
			a.LockedAt, a.LockedUntil, a.FailedAttempts = time.Time{}, time.Time{}, 0
		}
		return nil
	}); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventAccountUpdate, User: name, Outcome: OutcomeSuccess,
		Detail: fmt.Sprintf("admin set to %t by %s", admin, actor)})
	if unlocked {
		m.audit(ctx, AuditEvent{Type: EventUnlock, User: name, Outcome: OutcomeSuccess, Detail: "made an admin by " + actor + "; admins are never locked"})
	}
	return nil
}

// SetDisabled disables (ending its sessions) or enables an account.
func (m *Manager) SetDisabled(ctx context.Context, name string, disabled bool, actor string) error {
	a, err := m.updateByName(ctx, name, func(a *Account) error { a.Disabled = disabled; return nil })
	if err != nil {
		return err
	}
	what := "enabled"
	if disabled {
		what = "disabled"
	}
	m.audit(ctx, AuditEvent{Type: EventAccountUpdate, User: name, Outcome: OutcomeSuccess, Detail: what + " by " + actor})
	if disabled {
		_, err = m.revokeAccountSessions(ctx, a, actor)
	}
	return err
}

// Unlock clears an account's lock and failure count.
func (m *Manager) Unlock(ctx context.Context, name, actor string) error {
	if _, err := m.updateByName(ctx, name, func(a *Account) error {
		a.LockedAt, a.LockedUntil, a.FailedAttempts = time.Time{}, time.Time{}, 0
		return nil
	}); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventUnlock, User: name, Outcome: OutcomeSuccess, Detail: "by " + actor})
	return nil
}

// DeleteAccount removes an account with its sessions and codes.
func (m *Manager) DeleteAccount(ctx context.Context, name, actor string) error {
	a, err := m.store.GetAccountByName(ctx, name)
	if err != nil {
		return err
	}
	if _, err := m.revokeAccountSessions(ctx, a, actor); err != nil {
		return err
	}
	if err := m.store.DeleteAccount(ctx, a.ID); err != nil {
		return err
	}
	m.cache.dropAccount(a.ID)
	m.audit(ctx, AuditEvent{Type: EventAccountDelete, User: name, Outcome: OutcomeSuccess, Detail: "by " + actor})
	return nil
}

// Accounts reports every account's status.
func (m *Manager) Accounts(ctx context.Context) ([]AccountStatus, error) {
	accts, err := m.store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AccountStatus, 0, len(accts))
	for i := range accts {
		st, err := m.status(ctx, &accts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// AccountStatus reports one account's status.
func (m *Manager) AccountStatus(ctx context.Context, name string) (AccountStatus, error) {
	a, err := m.store.GetAccountByName(ctx, name)
	if err != nil {
		return AccountStatus{}, err
	}
	return m.status(ctx, a)
}

func (m *Manager) status(ctx context.Context, a *Account) (AccountStatus, error) {
	left, err := m.store.RecoveryCodesLeft(ctx, a.ID)
	if err != nil {
		return AccountStatus{}, err
	}
	st := AccountStatus{
		Name: a.Name, Groups: a.Groups, Admin: a.Admin, Disabled: a.Disabled, TOTPEnrolled: a.TOTPEnrolled(),
		MFARequired: m.MFARequired(a), Locked: !a.LockedAt.IsZero(), FailedAttempts: a.FailedAttempts,
		RecoveryCodesLeft: left, CreatedAt: a.CreatedAt,
	}
	if st.Groups == nil {
		st.Groups = []string{}
	}
	if !a.LockedUntil.IsZero() {
		t := a.LockedUntil
		st.LockedUntil = &t
	}
	if !a.LastLoginAt.IsZero() {
		t := a.LastLoginAt
		st.LastLoginAt = &t
	}
	return st, nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// IsNotFound reports whether err means the thing asked for does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ListAudit returns stored authentication events.
func (m *Manager) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	return m.store.ListAudit(ctx, f)
}
