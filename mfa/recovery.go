package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// RecoveryCodeCount is how many recovery codes an account gets at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32 in lower case: digits and
// letters without i, l, o and u, so nothing reads as something else.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

const (
	recoveryBytes = 10 // 80 bits
	recoveryLen   = 16 // 80 bits at 5 bits a character
	recoveryGroup = 4  // characters between dashes
	// maxRecoveryInput bounds what LooksLikeRecoveryCode reads.
	maxRecoveryInput = 64
)

// NewRecoveryCodes returns RecoveryCodeCount fresh, distinct codes of 80
// random bits each, shown as "xxxx-xxxx-xxxx-xxxx", and their hashes
// (HashRecoveryCode) for storage. Show the codes once; keep only the
// hashes.
func NewRecoveryCodes() (codes []string, hashes []string, err error) {
	seen := make(map[string]bool, RecoveryCodeCount)
	for len(codes) < RecoveryCodeCount {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, nil, err
		}
		if seen[c] {
			continue // 2^-80 odds, but cheap to rule out
		}
		seen[c] = true
		codes = append(codes, c)
		hashes = append(hashes, HashRecoveryCode(c))
	}
	return codes, hashes, nil
}

func newRecoveryCode() (string, error) {
	var raw [recoveryBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("recovery code: %w", err)
	}
	text := recoveryEncoding.EncodeToString(raw[:])
	var sb strings.Builder
	sb.Grow(len(text) + len(text)/recoveryGroup)
	for i := 0; i < len(text); i += recoveryGroup {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(text[i : i+recoveryGroup])
	}
	return sb.String(), nil
}

// normalizeRecoveryCode lowers ASCII letters, drops dashes and white
// space, and reads the look-alikes o as 0 and i and l as 1, as Crockford's
// base32 does, so a code typed as read still matches.
func normalizeRecoveryCode(code string) string {
	var sb strings.Builder
	sb.Grow(len(code))
	for i := 0; i < len(code); i++ {
		c := code[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case '-', ' ', '\t', '\r', '\n':
			continue
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// HashRecoveryCode returns the stored form of a recovery code: the hex
// SHA-256 of its normalized text (case, dashes and spaces ignored, o read
// as 0, i and l as 1). The same code always gives the same hash, so the
// hash can be looked up. A fast unsalted hash is enough because the codes
// carry 80 random bits.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// LooksLikeRecoveryCode reports whether code has a recovery code's shape:
// 16 letters and digits once normalized, so a caller can tell it from a
// 6- or 8-digit TOTP code before checking anything. It does not say the
// code is valid.
func LooksLikeRecoveryCode(code string) bool {
	if len(code) > maxRecoveryInput {
		return false
	}
	n := normalizeRecoveryCode(code)
	if len(n) != recoveryLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
