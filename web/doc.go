// Package web serves stepgate's JSON API under /stepgate/v1/ (sign-in,
// the session, step-up, TOTP enrollment, admin views) and holds the Go
// client the CLI and the kubectl credential plugin use to call it.
//
// Security model: every endpoint bounds its body, in size and in the time
// the client may take to send it (a dripped body gets 408), and decodes it
// strictly; every error, unknown paths and methods included, is a
// metav1.Status with a sentence. Sign-in and every endpoint that checks a
// one-time code are throttled per source address (429 with Retry-After) on
// top of the per-account lockout in package session, and a sign-in that
// finds no password-hashing capacity within LoginTimeout gets 503 rather
// than waiting on. Failures answer with the same generic Status whatever
// the cause (unknown user, wrong password, wrong code, locked account);
// only a code that is right for a nearby time step, after the right
// password, adds that the device's clock looks off. Tokens and recovery
// codes appear only in the responses that hand them out, which are never
// cached. Nothing here logs a password, code or token.
package web
