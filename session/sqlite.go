package session

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SQLiteStore is the default Store: one SQLite file in WAL mode. Several
// processes (the server and the admin CLI) may open the same file; every
// transaction takes the write lock up front (_txlock=immediate), which is
// what makes UpdateAccount and the single-use operations atomic.
type SQLiteStore struct {
	db    *sql.DB
	epoch *epochFile
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating if needed) the database at path and applies
// any migrations it has not seen yet.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	epoch, err := openEpoch(path + "-epoch")
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &SQLiteStore{db: db, epoch: epoch}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error {
	err := s.db.Close()
	if eerr := s.epoch.close(); err == nil {
		err = eerr
	}
	return err
}

// Version implements Store: a counter every process sharing the database
// file bumps after each committed write.
func (s *SQLiteStore) Version() uint64 { return s.epoch.load() }

func (s *SQLiteStore) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", base, err)
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		if err := s.applyMigration(ctx, version, base, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

func (s *SQLiteStore) applyMigration(ctx context.Context, version int, name, body string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, body); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			version, name, time.Now().UnixNano())
		return err
	})
}

// inTx runs fn in a transaction that holds the write lock from its start.
func (s *SQLiteStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.epoch.bump()
	return nil
}

func recordChange(ctx context.Context, tx *sql.Tx, kind, ref string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (kind, ref, at) VALUES (?, ?, ?)`, kind, ref, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return nil
}

// Changes implements Store.
func (s *SQLiteStore) Changes(ctx context.Context, after int64) ([]Change, int64, error) {
	if after < 0 {
		var last sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&last); err != nil {
			return nil, 0, fmt.Errorf("read change log: %w", err)
		}
		return nil, last.Int64, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, ref FROM changes WHERE seq > ? ORDER BY seq LIMIT 10000`, after)
	if err != nil {
		return nil, after, fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	var out []Change
	last := after
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Ref); err != nil {
			return nil, after, fmt.Errorf("read change log: %w", err)
		}
		out = append(out, c)
		last = c.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("read change log: %w", err)
	}
	return out, last, nil
}

// Prune implements Store.
func (s *SQLiteStore) Prune(ctx context.Context, now time.Time) error {
	n := now.UnixNano()
	day := int64(24 * time.Hour)
	stmts := []struct {
		q    string
		args []any
	}{
		// Keep expired and revoked sessions a day so lists and audits can
		// still name them.
		{`DELETE FROM sessions WHERE expires_at < ? OR (revoked_at != 0 AND revoked_at < ?)`, []any{n - day, n - day}},
		{`DELETE FROM challenges WHERE expires_at < ?`, []any{n}},
		{`DELETE FROM grants WHERE expires_at < ?`, []any{n}},
		{`DELETE FROM changes WHERE at < ?`, []any{n - int64(time.Hour)}},
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
		return nil
	})
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func encodeStrings(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

func decodeStrings(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return v, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isUniqueViolation reports a UNIQUE constraint failure. The driver's error
// type carries the SQLite extended code; constraint failures are 19 with
// the UNIQUE (2067) or PRIMARY KEY (1555) extension.
func isUniqueViolation(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		c := coded.Code()
		return c == 2067 || c == 1555
	}
	return false
}
