// Package session owns who is signed in: accounts, password and TOTP
// sign-in with lockout, sessions and service tokens, and step-up grants.
//
// Security model. Tokens are 256-bit random values handed to the client once;
// the store keeps only their SHA-256. Sign-in does the same password-hashing
// work for unknown users, locked accounts and wrong passwords, and the same
// store work (one transaction that records the attempt with its audit events,
// Store.RecordAttempt), and answers all of them with ErrInvalidCredentials, so
// neither the answer nor the work tells an attacker which it was. A TOTP code
// is accepted at most once per account and time step (replays are refused
// atomically in the store); a recovery code is spent in the same transaction,
// and only by an attempt that succeeds. Failed codes at sign-in and at step-up
// both count toward the lockout. Secrets (TOTP seeds)
// are sealed with a key the store never sees. Nothing in this package logs a
// password, code, token or secret.
//
// The Manager caches authenticated sessions in memory so that the proxy's hot
// path does not touch the store. Changes made by other processes (the admin
// CLI on the same SQLite file, or another replica) reach the cache through the
// store's change log, which Run polls; revoking a session also cancels the
// streams (watch, exec, attach, port-forward) registered for it.
//
// The Store interface is the only place state lives; SQLiteStore is the
// default implementation, and nothing SQLite-specific leaks above it.
package session
