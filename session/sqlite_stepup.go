package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PutChallenge implements Store.
func (s *SQLiteStore) PutChallenge(ctx context.Context, c *Challenge) error {
	req, err := json.Marshal(c.Request)
	if err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO challenges (session_id, id, rule, max_age, request, description, created_at, expires_at)
		VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (session_id) DO UPDATE SET id = excluded.id, rule = excluded.rule,
		max_age = excluded.max_age, request = excluded.request, description = excluded.description,
		created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.SessionID, c.ID, c.Rule, int64(c.MaxAge), string(req), c.Description, nanos(c.CreatedAt), nanos(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	return nil
}

// GetChallenge implements Store.
func (s *SQLiteStore) GetChallenge(ctx context.Context, sessionID string) (*Challenge, error) {
	var (
		c                        Challenge
		maxAge, created, expires int64
		req                      string
	)
	err := s.db.QueryRowContext(ctx, `SELECT session_id, id, rule, max_age, request, description, created_at, expires_at
		FROM challenges WHERE session_id = ?`, sessionID).
		Scan(&c.SessionID, &c.ID, &c.Rule, &maxAge, &req, &c.Description, &created, &expires)
	if err != nil {
		return nil, notFound(err, "get challenge")
	}
	if err := json.Unmarshal([]byte(req), &c.Request); err != nil {
		return nil, fmt.Errorf("get challenge: %w", err)
	}
	c.MaxAge, c.CreatedAt, c.ExpiresAt = time.Duration(maxAge), fromNanos(created), fromNanos(expires)
	return &c, nil
}

// DeleteChallenge implements Store.
func (s *SQLiteStore) DeleteChallenge(ctx context.Context, sessionID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM challenges WHERE session_id = ?`, sessionID); err != nil {
		return fmt.Errorf("delete challenge: %w", err)
	}
	return nil
}

// CreateGrant implements Store.
func (s *SQLiteStore) CreateGrant(ctx context.Context, g *Grant) error {
	req := ""
	if !g.Window {
		b, err := json.Marshal(g.Request)
		if err != nil {
			return fmt.Errorf("create grant: %w", err)
		}
		req = string(b)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO grants (id, session_id, rule, is_window, request, created_at, expires_at, used_at)
		VALUES (?,?,?,?,?,?,?,?)`, g.ID, g.SessionID, g.Rule, g.Window, req, nanos(g.CreatedAt), nanos(g.ExpiresAt), nanos(g.UsedAt))
	if err != nil {
		return fmt.Errorf("create grant: %w", err)
	}
	return nil
}

// ConsumeGrant implements Store. The request is compared in its canonical
// JSON form, which CreateGrant wrote from the same struct.
func (s *SQLiteStore) ConsumeGrant(ctx context.Context, sessionID, rule string, req Request, now time.Time) (bool, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("consume grant: %w", err)
	}
	var used bool
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM grants WHERE session_id = ? AND rule = ? AND is_window = 0
			AND request = ? AND used_at = 0 AND expires_at > ? ORDER BY created_at LIMIT 1`,
			sessionID, rule, string(b), now.UnixNano()).Scan(&id)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET used_at = ? WHERE id = ?`, now.UnixNano(), id); err != nil {
			return err
		}
		used = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("consume grant: %w", err)
	}
	return used, nil
}

// WindowOpen implements Store.
func (s *SQLiteStore) WindowOpen(ctx context.Context, sessionID, rule string, maxAge time.Duration, now time.Time) (bool, error) {
	if maxAge <= 0 {
		return false, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM grants WHERE session_id = ? AND rule = ? AND is_window = 1
		AND created_at <= ? AND created_at > ? AND expires_at > ?`,
		sessionID, rule, now.UnixNano(), now.Add(-maxAge).UnixNano(), now.UnixNano()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check step-up window: %w", err)
	}
	return n > 0, nil
}

// AppendAudit implements Store.
func (s *SQLiteStore) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if err := appendAudit(ctx, s.db, e); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// execer is what *sql.DB and *sql.Tx share for writing.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func appendAudit(ctx context.Context, db execer, e *AuditEvent) error {
	res, err := db.ExecContext(ctx, `INSERT INTO audit_events (at, type, user, session_id, source, outcome, detail)
		VALUES (?,?,?,?,?,?,?)`, nanos(e.Time), e.Type, e.User, e.SessionID, e.Source, e.Outcome, e.Detail)
	if err != nil {
		return err
	}
	e.Seq, _ = res.LastInsertId()
	return nil
}

// ListAudit implements Store. Events come newest last; with a limit, the
// newest Limit events.
func (s *SQLiteStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var where []string
	var args []any
	if f.User != "" {
		where = append(where, "user = ?")
		args = append(args, f.User)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	q := `SELECT seq, at, type, user, session_id, source, outcome, detail FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 100000 {
		limit = 100000
	}
	q = `SELECT * FROM (` + q + ` ORDER BY seq DESC LIMIT ?) ORDER BY seq`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.User, &e.SessionID, &e.Source, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.Time = fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
