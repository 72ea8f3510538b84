package mfa

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// ErrInvalidCode reports a one-time code that is malformed or does not
// match the secret anywhere near the current time.
var ErrInvalidCode = errors.New("invalid one-time code")

// ErrClockDrift reports a code that matches the secret, but only for a time
// step outside the accepted skew: the device's clock is probably wrong. The
// code must not be accepted; the error only makes a better message.
var ErrClockDrift = errors.New("one-time code is from a different time: the device clock looks off")

// Limits on TOTP settings. They keep Check's work bounded: it computes
// 2*DriftSteps+1 codes whatever the input.
const (
	minSecretBytes = 16 // RFC 4226 section 4: at least 128 bits
	newSecretBytes = 20 // 160 bits, as RFC 4226 recommends
	maxSecretChars = 1024
	maxPeriod      = time.Hour
	maxSkew        = 10
	maxDriftSteps  = 100
)

// TOTP holds the parameters of time-based one-time codes (RFC 6238, with
// HMAC-SHA1). The zero value means the defaults, which are what
// authenticator apps expect. TOTP is a plain value and safe for
// concurrent use.
type TOTP struct {
	// Issuer is the name authenticator apps show beside the account;
	// default "stepgate". It must not contain a colon.
	Issuer string
	// Period is the length of a time step, a whole number of seconds up
	// to an hour; default 30s.
	Period time.Duration
	// Digits is the code length, 6 to 8; default 6.
	Digits int
	// Skew is how many steps either side of now are accepted, up to 10;
	// default 1. A negative value accepts the current step only.
	Skew int
	// DriftSteps is how many steps either side of now are checked only to
	// diagnose a wrong device clock (ErrClockDrift), up to 100; default
	// 10. A negative value turns the diagnosis off. It is raised to Skew
	// when smaller.
	DriftSteps int
}

// Key is a new TOTP secret and the otpauth:// URL that carries it to an
// authenticator app (as text or as a QR code).
type Key struct {
	// Secret is the shared secret in base32 without padding.
	Secret string
	// URL is an otpauth://totp/ URL in the Key Uri Format authenticator
	// apps read: label "Issuer:account", and the secret, issuer,
	// algorithm, digits and period as parameters.
	URL string
}

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// withDefaults fills in the zero fields. It does not validate.
func (t TOTP) withDefaults() TOTP {
	if t.Issuer == "" {
		t.Issuer = "stepgate"
	}
	if t.Period == 0 {
		t.Period = 30 * time.Second
	}
	if t.Digits == 0 {
		t.Digits = 6
	}
	switch {
	case t.Skew == 0:
		t.Skew = 1
	case t.Skew < 0:
		t.Skew = 0
	}
	switch {
	case t.DriftSteps == 0:
		t.DriftSteps = 10
	case t.DriftSteps < 0:
		t.DriftSteps = t.Skew
	}
	t.DriftSteps = max(t.DriftSteps, t.Skew)
	return t
}

// Validate reports whether the settings, with defaults filled in, are
// usable. NewKey, Code and Check return its error too.
func (t TOTP) Validate() error {
	_, err := t.settings()
	return err
}

// settings returns t with defaults filled in, or an error if it is out of
// bounds.
func (t TOTP) settings() (TOTP, error) {
	t = t.withDefaults()
	switch {
	case strings.Contains(t.Issuer, ":"):
		return t, errors.New("totp issuer must not contain a colon")
	case t.Period < time.Second || t.Period > maxPeriod || t.Period%time.Second != 0:
		return t, fmt.Errorf("totp period %v must be a whole number of seconds from 1s to %v", t.Period, maxPeriod)
	case t.Digits < 6 || t.Digits > 8:
		return t, fmt.Errorf("totp digits must be 6 to 8, not %d", t.Digits)
	case t.Skew > maxSkew:
		return t, fmt.Errorf("totp skew must be at most %d, not %d", maxSkew, t.Skew)
	case t.DriftSteps > maxDriftSteps:
		return t, fmt.Errorf("totp drift steps must be at most %d, not %d", maxDriftSteps, t.DriftSteps)
	}
	return t, nil
}

// NewKey makes a fresh 160-bit secret for account, to be used with SHA1,
// t.Digits and t.Period, and its otpauth:// URL. The account must be
// non-empty and must not contain a colon.
func (t TOTP) NewKey(account string) (Key, error) {
	t, err := t.settings()
	if err != nil {
		return Key{}, err
	}
	if account == "" || strings.Contains(account, ":") {
		return Key{}, errors.New("totp account name must be non-empty and must not contain a colon")
	}
	raw := make([]byte, newSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, fmt.Errorf("totp secret: %w", err)
	}
	secret := secretEncoding.EncodeToString(raw)
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", t.Issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", strconv.Itoa(t.Digits))
	q.Set("period", strconv.Itoa(int(t.Period/time.Second)))
	u := url.URL{
		Scheme: "otpauth",
		Host:   "totp",
		Path:   "/" + t.Issuer + ":" + account,
		// Encode writes a space as "+", which some apps show as is; a
		// literal "+" is already "%2B", so every "+" left is a space.
		RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20"),
	}
	return Key{Secret: secret, URL: u.String()}, nil
}

// Step returns the time step containing at: its Unix time divided by the
// period, rounded down. Step does not validate t; with settings Validate
// refuses, the result is meaningless but Step does not panic.
func (t TOTP) Step(at time.Time) int64 {
	t = t.withDefaults()
	return floorDiv(at.Unix(), max(int64(t.Period/time.Second), 1))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Code returns the code for the time step containing at, as an
// authenticator app would show it.
func (t TOTP) Code(secret string, at time.Time) (string, error) {
	t, err := t.settings()
	if err != nil {
		return "", err
	}
	if err := checkSecret(secret); err != nil {
		return "", err
	}
	step := t.Step(at)
	if step < 0 {
		return "", errors.New("totp code: time is before the unix epoch")
	}
	return t.codeAt(secret, step)
}

// checkSecret refuses a secret that is not base32 or is too short to be
// safe. It decodes as the HOTP code does: spaces trimmed, any case,
// padding optional.
func checkSecret(secret string) error {
	if len(secret) > maxSecretChars {
		return errors.New("totp secret is too long")
	}
	s := strings.ToUpper(strings.TrimSpace(secret))
	raw, err := secretEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return errors.New("totp secret is not base32")
	}
	if len(raw) < minSecretBytes {
		return fmt.Errorf("totp secret has %d bits; at least %d are needed", 8*len(raw), 8*minSecretBytes)
	}
	return nil
}

func (t TOTP) codeAt(secret string, step int64) (string, error) {
	code, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits:    otp.Digits(t.Digits),
		Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return code, nil
}

// Check reports the time step of code if it matches within ±Skew steps of
// now. If it matches only within ±DriftSteps it returns that step and
// ErrClockDrift; otherwise it returns 0 and ErrInvalidCode. The caller
// refuses replays by accepting each step at most once per account.
//
// Spaces around code are ignored; anything else that is not exactly
// Digits ASCII digits is ErrInvalidCode. Every candidate step is computed
// and compared in constant time, so the time taken does not tell which
// step matched, or whether one did. A broken secret or settings give an
// error that is neither ErrInvalidCode nor ErrClockDrift.
func (t TOTP) Check(secret, code string, now time.Time) (step int64, err error) {
	t, err = t.settings()
	if err != nil {
		return 0, err
	}
	if err := checkSecret(secret); err != nil {
		return 0, err
	}
	code = strings.TrimSpace(code)
	if len(code) != t.Digits || !allDigits(code) {
		return 0, ErrInvalidCode
	}
	center := t.Step(now)
	matched, drifted := int64(-1), int64(-1)
	for d := -t.DriftSteps; d <= t.DriftSteps; d++ {
		s := center + int64(d)
		if s < 0 {
			continue
		}
		want, err := t.codeAt(secret, s)
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		inSkew := d >= -t.Skew && d <= t.Skew
		switch {
		case inSkew && matched < 0:
			matched = s
		case !inSkew && drifted < 0:
			drifted = s
		}
	}
	switch {
	case matched >= 0:
		return matched, nil
	case drifted >= 0:
		return drifted, ErrClockDrift
	}
	return 0, ErrInvalidCode
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
