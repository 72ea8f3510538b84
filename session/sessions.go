package session

import (
	"context"
	"fmt"
	"time"
)

// SessionInfo is what admins and the session's owner see of a session.
type SessionInfo struct {
	ID             string    `json:"id"`
	User           string    `json:"user"`
	Source         string    `json:"source,omitempty"`
	UserAgent      string    `json:"userAgent,omitempty"`
	EnrollmentOnly bool      `json:"enrollmentOnly,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	LastSeenAt     time.Time `json:"lastSeenAt"`
	ExpiresAt      time.Time `json:"expiresAt"`
	MFAAt          time.Time `json:"mfaAt,omitzero"`
	OpenStreams    int       `json:"openStreams"`
}

// ListSessions lists live sessions, of one user when user is not "".
func (m *Manager) ListSessions(ctx context.Context, user string) ([]SessionInfo, error) {
	names := map[string]string{}
	accountID := ""
	if user != "" {
		a, err := m.store.GetAccountByName(ctx, user)
		if err != nil {
			return nil, err
		}
		accountID, names[a.ID] = a.ID, a.Name
	} else {
		accts, err := m.store.ListAccounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			names[a.ID] = a.Name
		}
	}
	now := m.now()
	recs, err := m.store.ListSessions(ctx, accountID, now)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(recs))
	for _, r := range recs {
		if now.Sub(r.LastSeenAt) >= m.idle {
			continue
		}
		out = append(out, SessionInfo{
			ID: r.ID, User: names[r.AccountID], Source: r.Source, UserAgent: r.UserAgent, EnrollmentOnly: r.EnrollmentOnly,
			CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, ExpiresAt: r.ExpiresAt, MFAAt: r.MFAAt,
			OpenStreams: m.streams.count(r.ID),
		})
	}
	return out, nil
}

// RevokeSession ends one session by id: its token stops working at once in
// this process (within the poll interval in others), and its open streams
// are closed.
func (m *Manager) RevokeSession(ctx context.Context, id, actor string) error {
	r, err := m.store.GetSession(ctx, id)
	if err != nil {
		return err
	}
	ids, err := m.store.RevokeSessions(ctx, id, "", m.now())
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	m.afterRevoke(ctx, ids, r.AccountID, actor)
	return nil
}

// RevokeUserSessions ends all of a user's sessions and reports how many.
func (m *Manager) RevokeUserSessions(ctx context.Context, user, actor string) (int, error) {
	a, err := m.store.GetAccountByName(ctx, user)
	if err != nil {
		return 0, err
	}
	return m.revokeAccountSessions(ctx, a, actor)
}

func (m *Manager) revokeAccountSessions(ctx context.Context, a *Account, actor string) (int, error) {
	ids, err := m.store.RevokeSessions(ctx, "", a.ID, m.now())
	if err != nil {
		return 0, err
	}
	m.afterRevoke(ctx, ids, a.ID, actor)
	return len(ids), nil
}

func (m *Manager) afterRevoke(ctx context.Context, ids []string, accountID, actor string) {
	user := ""
	if a, err := m.store.GetAccount(ctx, accountID); err == nil {
		user = a.Name
	}
	for _, id := range ids {
		m.cache.dropSession(id)
		m.streams.closeSession(id)
		m.audit(ctx, AuditEvent{Type: EventSessionRevoke, User: user, SessionID: id, Outcome: OutcomeSuccess, Detail: "by " + actor})
	}
}

// Logout ends the principal's own session.
func (m *Manager) Logout(ctx context.Context, p *Principal) error {
	if p.Machine {
		return ErrMachine
	}
	ids, err := m.store.RevokeSessions(ctx, p.SessionID, "", m.now())
	if err != nil {
		return err
	}
	for _, id := range ids {
		m.cache.dropSession(id)
		m.streams.closeSession(id)
	}
	m.audit(ctx, AuditEvent{Type: EventLogout, User: p.User, SessionID: p.SessionID, Outcome: OutcomeSuccess})
	return nil
}

// rotate gives the session a new token (on step-up and enrollment, so a
// token seen before cannot ride on the stronger session) and applies fn to
// the record in the same update.
func (m *Manager) rotate(ctx context.Context, sessionID string, fn func(*SessionRecord)) (string, *SessionRecord, error) {
	token, hash, err := newToken(sessionTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	r, err := m.store.UpdateSession(ctx, sessionID, func(r *SessionRecord) error {
		if !r.RevokedAt.IsZero() {
			return ErrUnauthenticated
		}
		r.TokenHash = hash
		fn(r)
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	m.cache.dropSession(sessionID)
	return token, r, nil
}
