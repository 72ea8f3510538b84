package mfa

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

//go:embed common_passwords.txt
var commonPasswordsText string

// Errors from PasswordPolicy.Check; their text is fit to show a person.
var (
	ErrPasswordTooShort   = errors.New("password is too short")
	ErrPasswordTooLong    = errors.New("password is too long")
	ErrPasswordCommon     = errors.New("password is one of the most common passwords; choose another")
	ErrPasswordIsUsername = errors.New("password must not contain the user name")
)

// PasswordPolicy follows NIST SP 800-63B: a minimum length, a generous
// maximum, no composition rules, and a block list. Lengths count Unicode
// characters (runes), so a passphrase in any script counts as typed.
type PasswordPolicy struct {
	MinLength int
	MaxLength int
}

// DefaultPasswordPolicy is 12 to 256 characters.
func DefaultPasswordPolicy() PasswordPolicy { return PasswordPolicy{MinLength: 12, MaxLength: 256} }

// Check tells whether password may be used by username. It refuses
// passwords that contain the user name (case-insensitively; names shorter
// than 3 characters are not checked, to avoid refusing everything with an
// "a" in it) and the built-in list of common passwords, compared case-
// insensitively and with trailing digits and punctuation removed.
func (p PasswordPolicy) Check(username, password string) error {
	if p.MinLength <= 0 {
		p.MinLength = 12
	}
	if p.MaxLength <= 0 {
		p.MaxLength = 256
	}
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		return fmt.Errorf("%w: use at least %d characters (a few words make a good passphrase)", ErrPasswordTooShort, p.MinLength)
	}
	if n > p.MaxLength || len(password) > 4*p.MaxLength {
		return fmt.Errorf("%w: use at most %d characters", ErrPasswordTooLong, p.MaxLength)
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(username); len(u) >= 3 && strings.Contains(lower, u) {
		return ErrPasswordIsUsername
	}
	if isCommon(lower) {
		return ErrPasswordCommon
	}
	return nil
}

func isCommon(lower string) bool {
	trimmed := strings.TrimRight(lower, "0123456789!@#$%^&*.?_- ")
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if line == lower || line == trimmed {
			return true
		}
	}
	return false
}
