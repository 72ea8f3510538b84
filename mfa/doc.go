// Package mfa holds stepgate's credential primitives: TOTP (RFC 6238, the
// SHA1/6-digit/30-second flavour authenticator apps expect), QR codes for
// enrolling an app, recovery codes, argon2id password hashing with a
// password policy after NIST SP 800-63B, and sealing of secrets at rest.
//
// Security model. Codes, recovery codes and password hashes are compared
// in constant time. TOTP verification reports the time step a code matched
// so the caller can refuse a second use of that step; this package keeps
// no state. Password hashing is bounded by a semaphore so a flood of
// sign-ins cannot take every CPU, and an empty (unknown-user) hash costs
// the same work as a real one. Parameters read back from a stored hash are
// validated before use, so a tampered hash cannot make the server allocate
// gigabytes. Recovery codes carry 80 random bits, so a plain SHA-256 is
// enough to store them. Secrets are sealed with AES-256-GCM, bound to their
// owner by associated data. This package never logs.
package mfa
