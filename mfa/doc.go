// Package mfa holds stepgate's credential primitives: TOTP (RFC 6238, the
// SHA1/6-digit/30-second flavour authenticator apps expect) with QR codes
// for enrolling an app, recovery codes, argon2id password hashing, a
// password policy after NIST SP 800-63B, and sealing of secrets at rest.
// It imports no other stepgate package and keeps no state between calls.
//
// # Security model
//
// Secrets are compared in constant time: TOTP codes (every step in the
// window is computed and compared, so timing does not tell which matched),
// and password hashes. Recovery codes are looked up by their SHA-256,
// which is enough because each carries 80 random bits. TOTP.Check reports
// the time step a code matched; refusing a second use of that step is the
// caller's job, since this package keeps no state. Password hashing runs
// behind a semaphore so a flood of sign-ins queues instead of taking every
// CPU and gigabytes of memory, and an unknown user (an empty hash) costs
// the same argon2 work as a known one, so timing does not tell which
// names exist. Stored hashes are hostile input: their parameters are
// checked against bounds before any memory is allocated for them. Secrets
// at rest (TOTP seeds) are sealed with AES-256-GCM under a random nonce,
// bound to their owner by associated data, under a key kept in a 0600
// file.
//
// This package never logs, and its errors never contain a password, code,
// secret, key or hash: callers may log them.
package mfa
