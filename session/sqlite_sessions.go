package session

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

const sessionColumns = `id, account_id, token_hash, enrollment_only, source, user_agent, created_at, last_seen_at,
	expires_at, mfa_at, elevated_at, elevated_until, revoked_at`

func scanSession(r rowScanner) (*SessionRecord, error) {
	var (
		s                                         SessionRecord
		created, seen, expires, mfaAt, elAt, elTo int64
		revoked                                   int64
	)
	err := r.Scan(&s.ID, &s.AccountID, &s.TokenHash, &s.EnrollmentOnly, &s.Source, &s.UserAgent, &created, &seen,
		&expires, &mfaAt, &elAt, &elTo, &revoked)
	if err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	s.MFAAt, s.ElevatedAt, s.ElevatedUntil = fromNanos(mfaAt), fromNanos(elAt), fromNanos(elTo)
	s.RevokedAt = fromNanos(revoked)
	return &s, nil
}

// CreateSession implements Store.
func (s *SQLiteStore) CreateSession(ctx context.Context, r *SessionRecord) error {
	if err := insertSession(ctx, s.db, r); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

func insertSession(ctx context.Context, db execer, r *SessionRecord) error {
	_, err := db.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.AccountID, r.TokenHash, r.EnrollmentOnly, r.Source, r.UserAgent, nanos(r.CreatedAt), nanos(r.LastSeenAt),
		nanos(r.ExpiresAt), nanos(r.MFAAt), nanos(r.ElevatedAt), nanos(r.ElevatedUntil), nanos(r.RevokedAt))
	return err
}

// GetSessionByTokenHash implements Store.
func (s *SQLiteStore) GetSessionByTokenHash(ctx context.Context, tokenHash string) (*SessionRecord, error) {
	r, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, notFound(err, "get session")
	}
	return r, nil
}

// GetSession implements Store.
func (s *SQLiteStore) GetSession(ctx context.Context, id string) (*SessionRecord, error) {
	r, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get session")
	}
	return r, nil
}

// UpdateSession implements Store.
func (s *SQLiteStore) UpdateSession(ctx context.Context, id string, fn func(*SessionRecord) error) (*SessionRecord, error) {
	var out *SessionRecord
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "update session")
		}
		if err := fn(r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET token_hash = ?, enrollment_only = ?, last_seen_at = ?,
			expires_at = ?, mfa_at = ?, elevated_at = ?, elevated_until = ?, revoked_at = ? WHERE id = ?`,
			r.TokenHash, r.EnrollmentOnly, nanos(r.LastSeenAt), nanos(r.ExpiresAt), nanos(r.MFAAt),
			nanos(r.ElevatedAt), nanos(r.ElevatedUntil), nanos(r.RevokedAt), id)
		if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		out = r
		return recordChange(ctx, tx, ChangeSession, id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListSessions implements Store.
func (s *SQLiteStore) ListSessions(ctx context.Context, accountID string, now time.Time) ([]SessionRecord, error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions WHERE revoked_at = 0 AND expires_at > ?`
	args := []any{now.UnixNano()}
	if accountID != "" {
		q += ` AND account_id = ?`
		args = append(args, accountID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []SessionRecord
	for rows.Next() {
		r, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// RevokeSessions implements Store.
func (s *SQLiteStore) RevokeSessions(ctx context.Context, id, accountID string, now time.Time) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q, arg := `SELECT id FROM sessions WHERE revoked_at = 0 AND id = ?`, id
		if id == "" {
			q, arg = `SELECT id FROM sessions WHERE revoked_at = 0 AND account_id = ?`, accountID
		}
		rows, err := tx.QueryContext(ctx, q, arg)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		if ids, err = collectStrings(rows); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		for _, sid := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ?`, now.UnixNano(), sid); err != nil {
				return fmt.Errorf("revoke sessions: %w", err)
			}
			if err := recordChange(ctx, tx, ChangeSession, sid); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// TouchSessions implements Store.
func (s *SQLiteStore) TouchSessions(ctx context.Context, lastSeen map[string]time.Time) error {
	if len(lastSeen) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for id, at := range lastSeen {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?`,
				at.UnixNano(), id); err != nil {
				return fmt.Errorf("touch sessions: %w", err)
			}
		}
		return nil
	})
}

const tokenColumns = `id, name, groups_json, token_hash, created_by, created_at, expires_at, revoked_at`

func scanToken(r rowScanner) (*ServiceToken, error) {
	var (
		t                         ServiceToken
		groups                    string
		created, expires, revoked int64
	)
	if err := r.Scan(&t.ID, &t.Name, &groups, &t.TokenHash, &t.CreatedBy, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	var err error
	if t.Groups, err = decodeStrings(groups); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return &t, nil
}

// CreateServiceToken implements Store.
func (s *SQLiteStore) CreateServiceToken(ctx context.Context, t *ServiceToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO service_tokens (`+tokenColumns+`) VALUES (?,?,?,?,?,?,?,?)`,
		t.ID, t.Name, encodeStrings(t.Groups), t.TokenHash, t.CreatedBy, nanos(t.CreatedAt), nanos(t.ExpiresAt), nanos(t.RevokedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("service token %q: %w", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create service token: %w", err)
	}
	return nil
}

// GetServiceTokenByHash implements Store.
func (s *SQLiteStore) GetServiceTokenByHash(ctx context.Context, tokenHash string) (*ServiceToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM service_tokens WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, notFound(err, "get service token")
	}
	return t, nil
}

// ListServiceTokens implements Store.
func (s *SQLiteStore) ListServiceTokens(ctx context.Context) ([]ServiceToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM service_tokens ORDER BY name, created_at`)
	if err != nil {
		return nil, fmt.Errorf("list service tokens: %w", err)
	}
	defer rows.Close()
	var out []ServiceToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list service tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list service tokens: %w", err)
	}
	return out, nil
}

// RevokeServiceToken implements Store.
func (s *SQLiteStore) RevokeServiceToken(ctx context.Context, name string, now time.Time) (*ServiceToken, error) {
	var out *ServiceToken
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM service_tokens WHERE name = ? AND revoked_at = 0`, name))
		if err != nil {
			return notFound(err, "revoke service token")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE service_tokens SET revoked_at = ? WHERE id = ?`, now.UnixNano(), t.ID); err != nil {
			return fmt.Errorf("revoke service token: %w", err)
		}
		t.RevokedAt = now
		out = t
		return recordChange(ctx, tx, ChangeToken, t.ID)
	})
	return out, err
}
