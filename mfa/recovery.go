package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// RecoveryCodeCount is how many recovery codes an account gets.
const RecoveryCodeCount = 10

// recoveryAlphabet is base32 without the look-alikes 0/o, 1/l/i.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// recoveryLen is the number of characters; 16 of a 31-symbol alphabet
// carry more than 79 bits.
const recoveryLen = 16

// NewRecoveryCodes returns RecoveryCodeCount fresh codes, shown as
// "xxxx-xxxx-xxxx-xxxx", and their hashes for storage.
func NewRecoveryCodes() (codes, hashes []string, err error) {
	seen := map[string]bool{}
	for len(codes) < RecoveryCodeCount {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, nil, err
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		codes = append(codes, c)
		hashes = append(hashes, HashRecoveryCode(c))
	}
	return codes, hashes, nil
}

func newRecoveryCode() (string, error) {
	var sb strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < recoveryLen; {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("recovery code: %w", err)
		}
		// Rejection sampling keeps every symbol equally likely.
		if int(buf[0]) >= 256-256%len(recoveryAlphabet) {
			continue
		}
		if n > 0 && n%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(recoveryAlphabet[int(buf[0])%len(recoveryAlphabet)])
		n++
	}
	return sb.String(), nil
}

// normalizeRecoveryCode lowers case and drops dashes and spaces.
func normalizeRecoveryCode(code string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(code) {
		if r != '-' && r != ' ' && r != '\t' {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// HashRecoveryCode returns the stored form of a code: SHA-256 of its
// normalized text, in hex.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// LooksLikeRecoveryCode reports whether code has a recovery code's shape,
// so a caller can tell it from a TOTP code before checking anything.
func LooksLikeRecoveryCode(code string) bool {
	if len(code) > 64 {
		return false
	}
	n := normalizeRecoveryCode(code)
	if len(n) != recoveryLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !strings.ContainsRune(recoveryAlphabet, rune(n[i])) {
			return false
		}
	}
	return true
}
