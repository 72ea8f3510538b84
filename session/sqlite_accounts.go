package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const accountColumns = `id, name, groups_json, admin, disabled, password_hash, totp_secret, totp_pending,
	totp_last_step, failed_attempts, locked_at, locked_until, last_login_at, created_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanAccount(r rowScanner) (*Account, error) {
	var (
		a                                         Account
		groups                                    string
		lockedAt, lockedUntil, lastLogin, created int64
	)
	err := r.Scan(&a.ID, &a.Name, &groups, &a.Admin, &a.Disabled, &a.PasswordHash, &a.TOTPSecret, &a.TOTPPending,
		&a.TOTPLastStep, &a.FailedAttempts, &lockedAt, &lockedUntil, &lastLogin, &created)
	if err != nil {
		return nil, err
	}
	if a.Groups, err = decodeStrings(groups); err != nil {
		return nil, err
	}
	a.LockedAt, a.LockedUntil = fromNanos(lockedAt), fromNanos(lockedUntil)
	a.LastLoginAt, a.CreatedAt = fromNanos(lastLogin), fromNanos(created)
	return &a, nil
}

// CreateAccount implements Store.
func (s *SQLiteStore) CreateAccount(ctx context.Context, a *Account) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.ID, a.Name, encodeStrings(a.Groups), a.Admin, a.Disabled, a.PasswordHash, a.TOTPSecret, a.TOTPPending,
			a.TOTPLastStep, a.FailedAttempts, nanos(a.LockedAt), nanos(a.LockedUntil), nanos(a.LastLoginAt), nanos(a.CreatedAt))
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("account %q: %w", a.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	return nil
}

// GetAccount implements Store.
func (s *SQLiteStore) GetAccount(ctx context.Context, id string) (*Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get account")
	}
	return a, nil
}

// GetAccountByName implements Store.
func (s *SQLiteStore) GetAccountByName(ctx context.Context, name string) (*Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE name = ?`, name))
	if err != nil {
		return nil, notFound(err, "get account")
	}
	return a, nil
}

// ListAccounts implements Store.
func (s *SQLiteStore) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount implements Store.
func (s *SQLiteStore) UpdateAccount(ctx context.Context, id string, fn func(*Account) error) (*Account, error) {
	var out *Account
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "update account")
		}
		if err := fn(a); err != nil {
			return err
		}
		if err := writeAccount(ctx, tx, id, a); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// writeAccount writes a over the account with id and logs the change.
func writeAccount(ctx context.Context, tx *sql.Tx, id string, a *Account) error {
	_, err := tx.ExecContext(ctx, `UPDATE accounts SET name = ?, groups_json = ?, admin = ?, disabled = ?,
		password_hash = ?, totp_secret = ?, totp_pending = ?, totp_last_step = ?, failed_attempts = ?,
		locked_at = ?, locked_until = ?, last_login_at = ? WHERE id = ?`,
		a.Name, encodeStrings(a.Groups), a.Admin, a.Disabled, a.PasswordHash, a.TOTPSecret, a.TOTPPending,
		a.TOTPLastStep, a.FailedAttempts, nanos(a.LockedAt), nanos(a.LockedUntil), nanos(a.LastLoginAt), id)
	if err != nil {
		return err
	}
	return recordChange(ctx, tx, ChangeAccount, id)
}

// RecordAttempt implements Store. The same statements run for every
// attempt with the same input (an unknown id reads no row, and a recovery
// hash is looked up whether or not the account exists); only the writes
// decide asks for differ, inside the one transaction.
func (s *SQLiteStore) RecordAttempt(ctx context.Context, accountID, recoveryHash string, now time.Time, decide func(*Attempt)) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		at := &Attempt{}
		a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, accountID))
		switch {
		case err == nil:
			at.Account = a
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if recoveryHash != "" {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND hash = ? AND used_at = 0`,
				accountID, recoveryHash).Scan(&n)
			if err != nil {
				return err
			}
			at.RecoveryUnused = at.Account != nil && n == 1
		}
		decide(at)
		if at.Write && at.Account != nil {
			if err := writeAccount(ctx, tx, accountID, at.Account); err != nil {
				return err
			}
		}
		if at.SpendRecovery {
			if !at.RecoveryUnused {
				return errors.New("spend a recovery code that is not unused")
			}
			if _, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND hash = ? AND used_at = 0`,
				now.UnixNano(), accountID, recoveryHash); err != nil {
				return err
			}
		}
		if at.Session != nil {
			if at.Account == nil || at.Session.AccountID != at.Account.ID {
				return errors.New("a session for another account than the attempt's")
			}
			if err := insertSession(ctx, tx, at.Session); err != nil {
				return err
			}
		}
		for i := range at.Events {
			if err := appendAudit(ctx, tx, &at.Events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// DeleteAccount implements Store. Its sessions and codes go with it.
func (s *SQLiteStore) DeleteAccount(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM sessions WHERE account_id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		ids, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete account: %w", ErrNotFound)
		}
		for _, sid := range ids {
			if err := recordChange(ctx, tx, ChangeSession, sid); err != nil {
				return err
			}
		}
		return recordChange(ctx, tx, ChangeAccount, id)
	})
}

// SetRecoveryCodes implements Store.
func (s *SQLiteStore) SetRecoveryCodes(ctx context.Context, accountID string, hashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (account_id, hash) VALUES (?, ?)`, accountID, h); err != nil {
				return fmt.Errorf("replace recovery codes: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode implements Store.
func (s *SQLiteStore) UseRecoveryCode(ctx context.Context, accountID, hash string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND hash = ? AND used_at = 0`,
		now.UnixNano(), accountID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return n == 1, nil
}

// RecoveryCodesLeft implements Store.
func (s *SQLiteStore) RecoveryCodesLeft(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND used_at = 0`, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
