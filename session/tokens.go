package session

import (
	"context"
	"fmt"
	"time"
)

// MaxServiceTokenTTL caps a service token's life.
const MaxServiceTokenTTL = 366 * 24 * time.Hour

// CreateServiceToken mints a token for a machine. The token is returned
// once; only its hash is kept.
func (m *Manager) CreateServiceToken(ctx context.Context, name string, groups []string, ttl time.Duration, actor string) (string, *ServiceToken, error) {
	if err := ValidateUserName(name); err != nil {
		return "", nil, fmt.Errorf("token name: %w", err)
	}
	if err := ValidateGroups(groups); err != nil {
		return "", nil, err
	}
	if ttl <= 0 || ttl > MaxServiceTokenTTL {
		return "", nil, fmt.Errorf("%w: token lifetime must be between 1s and %s", ErrInvalidInput, MaxServiceTokenTTL)
	}
	token, hash, err := newToken(serviceTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := m.now()
	t := &ServiceToken{ID: newID("t-"), Name: name, Groups: dedupe(groups), TokenHash: hash, CreatedBy: actor,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := m.store.CreateServiceToken(ctx, t); err != nil {
		return "", nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventTokenCreate, User: ServiceTokenUser(name), Outcome: OutcomeSuccess,
		Detail: fmt.Sprintf("by %s; groups %v; expires %s", actor, t.Groups, t.ExpiresAt.Format(time.RFC3339))})
	return token, t, nil
}

// ListServiceTokens lists all service tokens, revoked ones included.
func (m *Manager) ListServiceTokens(ctx context.Context) ([]ServiceToken, error) {
	return m.store.ListServiceTokens(ctx)
}

// RevokeServiceToken revokes the live token with that name; requests using
// it fail from the next one on, and its open streams close.
func (m *Manager) RevokeServiceToken(ctx context.Context, name, actor string) error {
	t, err := m.store.RevokeServiceToken(ctx, name, m.now())
	if err != nil {
		return err
	}
	m.cache.dropSession(t.ID)
	m.streams.closeSession(t.ID)
	m.audit(ctx, AuditEvent{Type: EventTokenRevoke, User: ServiceTokenUser(name), Outcome: OutcomeSuccess, Detail: "by " + actor})
	return nil
}
