// Package web serves stepgate's JSON API under /stepgate/v1/ (sign-in,
// the session, step-up, TOTP enrollment, admin views) and holds the Go
// client the CLI and the kubectl credential plugin use to call it.
//
// Security model: every endpoint bounds its body and decodes it strictly;
// sign-in and every endpoint that checks a one-time code are throttled per
// source address (429 with Retry-After) on top of the per-account lockout
// in package session; failures answer with the same generic Status whatever
// the cause (unknown user, wrong password, wrong code, locked account).
// Tokens appear only in the responses that hand them out, which are never
// cached. Nothing here logs a password, code or token.
package web
