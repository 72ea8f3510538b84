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

// Errors from TOTP checks.
var (
	ErrInvalidCode = errors.New("invalid one-time code")
	ErrClockDrift  = errors.New("one-time code is from a different time: the device clock looks off")
)

// TOTP holds the parameters of time-based one-time codes. The zero value
// means the defaults, which are what authenticator apps expect.
type TOTP struct {
	Issuer     string        // shown in authenticator apps; default "stepgate"
	Period     time.Duration // default 30s
	Digits     int           // 6 or 8; default 6
	Skew       int           // accepted steps either side of now; default 1
	DriftSteps int           // steps either side checked only to diagnose drift; default 10
}

// Key is a new TOTP secret and the otpauth:// URL that carries it.
type Key struct {
	Secret string // base32, no padding
	URL    string
}

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (t TOTP) withDefaults() TOTP {
	if t.Issuer == "" {
		t.Issuer = "stepgate"
	}
	if t.Period <= 0 {
		t.Period = 30 * time.Second
	}
	if t.Digits != 8 {
		t.Digits = 6
	}
	if t.Skew <= 0 {
		t.Skew = 1
	}
	if t.DriftSteps <= t.Skew {
		t.DriftSteps = 10
	}
	return t
}

func (t TOTP) digits() otp.Digits {
	if t.Digits == 8 {
		return otp.DigitsEight
	}
	return otp.DigitsSix
}

// NewKey makes a fresh 160-bit secret for account.
func (t TOTP) NewKey(account string) (Key, error) {
	t = t.withDefaults()
	raw := make([]byte, 20)
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
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + t.Issuer + ":" + account, RawQuery: q.Encode()}
	return Key{Secret: secret, URL: u.String()}, nil
}

// Step returns the time step containing at.
func (t TOTP) Step(at time.Time) int64 {
	t = t.withDefaults()
	return floorDiv(at.Unix(), int64(t.Period/time.Second))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// Code returns the code of the time step containing at.
func (t TOTP) Code(secret string, at time.Time) (string, error) {
	t = t.withDefaults()
	return t.codeAt(secret, t.Step(at))
}

func (t TOTP) codeAt(secret string, step int64) (string, error) {
	if step < 0 {
		return "", ErrInvalidCode
	}
	code, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: t.digits(), Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return code, nil
}

// Check reports the time step of code if it matches within ±Skew of now.
// A code that matches only within ±DriftSteps returns its step with
// ErrClockDrift; any other code returns ErrInvalidCode. Every candidate
// step is compared, in constant time, so the time taken does not say
// which step matched.
func (t TOTP) Check(secret, code string, now time.Time) (int64, error) {
	t = t.withDefaults()
	code = strings.TrimSpace(code)
	if len(code) != t.Digits || !allDigits(code) {
		return 0, ErrInvalidCode
	}
	center := t.Step(now)
	var matched, drifted int64 = -1, -1
	for d := -t.DriftSteps; d <= t.DriftSteps; d++ {
		want, err := t.codeAt(secret, center+int64(d))
		if err != nil {
			if errors.Is(err, ErrInvalidCode) {
				continue
			}
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			inWindow := d >= -t.Skew && d <= t.Skew
			switch {
			case inWindow && matched < 0:
				matched = center + int64(d)
			case !inWindow && drifted < 0:
				drifted = center + int64(d)
			}
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
