package mfa

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// commonPasswords is the block list: one password a line, lower case;
// lines starting with "#" are comments.
//
//go:embed common_passwords.txt
var commonPasswords string

// Errors from PasswordPolicy.Check. Their text, and the text of the errors
// that wrap them, is fit to show the person choosing the password.
var (
	ErrPasswordTooShort   = errors.New("password is too short")
	ErrPasswordTooLong    = errors.New("password is too long")
	ErrPasswordCommon     = errors.New("password is too common or too easy to guess; choose another")
	ErrPasswordIsUsername = errors.New("password must not contain the user name")
)

// MinMaxLength is the lowest MaxLength Validate accepts, in runes:
// passwords of up to at least 128 characters are always allowed.
const MinMaxLength = 128

// Policy defaults and bounds, in runes.
const (
	defaultMinLength = 12
	defaultMaxLength = 256
	// minUsernameCheck is the shortest user name looked for inside a
	// password; shorter ones would refuse half the dictionary.
	minUsernameCheck = 3
	// maxRepeatUnit is the longest unit a password may not merely say
	// twice, as in "abcabc".
	maxRepeatUnit = 6
)

// PasswordPolicy checks new passwords after NIST SP 800-63B: a minimum and
// a generous maximum length, no composition rules (no "one digit and one
// symbol"), and a block list of common, predictable or context-specific
// passwords. Lengths count Unicode code points (runes), not bytes, so a
// passphrase in any script counts as typed. Zero fields take the defaults.
type PasswordPolicy struct {
	// MinLength is the fewest runes allowed; default 12.
	MinLength int
	// MaxLength is the most runes allowed; default 256.
	MaxLength int
}

// DefaultPasswordPolicy returns the default policy: 12 to 256 runes.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: defaultMinLength, MaxLength: defaultMaxLength}
}

func (p PasswordPolicy) withDefaults() PasswordPolicy {
	if p.MinLength <= 0 {
		p.MinLength = defaultMinLength
	}
	if p.MaxLength <= 0 {
		p.MaxLength = defaultMaxLength
	}
	return p
}

// Validate reports whether the policy, with defaults filled in, is one
// stepgate allows under NIST SP 800-63B: a minimum of at least 8, and a
// maximum of at least MinMaxLength (128) and not below the minimum, so long
// passphrases are always accepted.
func (p PasswordPolicy) Validate() error {
	p = p.withDefaults()
	if p.MinLength < 8 {
		return fmt.Errorf("password minimum length %d is below 8", p.MinLength)
	}
	if p.MaxLength < MinMaxLength {
		return fmt.Errorf("password maximum length %d is below %d", p.MaxLength, MinMaxLength)
	}
	if p.MaxLength < p.MinLength {
		return fmt.Errorf("password maximum length %d is below the minimum %d", p.MaxLength, p.MinLength)
	}
	return nil
}

// Check reports whether username may choose password. In order, it
// refuses, with an error wrapping the matching sentinel:
//
//   - fewer than MinLength or more than MaxLength runes
//     (ErrPasswordTooShort, ErrPasswordTooLong);
//   - a password containing the user name, compared case-insensitively;
//     user names shorter than 3 runes are only refused as the whole
//     password (ErrPasswordIsUsername);
//   - a password on the built-in list of common passwords, compared
//     case-insensitively, with digits and punctuation at either end
//     ignored and common look-alike characters read as letters, so
//     "P@ssw0rd2024!" counts as "password"; one that only repeats a short
//     unit ("abcabcabcabc"); and a straight run of letters or digits
//     ("abcdefghijkl", "123456789012") (ErrPasswordCommon).
//
// Nothing else is required of the password: spaces and any Unicode
// characters are welcome.
func (p PasswordPolicy) Check(username, password string) error {
	p = p.withDefaults()
	// Count no further than needed: a hostile password may be huge. A rune
	// is at most 4 bytes, so 4*(MaxLength+1) bytes hold more than
	// MaxLength runes.
	limit := len(password)
	if p.MaxLength < limit/4 {
		limit = 4 * (p.MaxLength + 1)
	}
	n := utf8.RuneCountInString(password[:limit])
	if n < p.MinLength {
		return fmt.Errorf("%w: use at least %d characters (a few words make a good passphrase)", ErrPasswordTooShort, p.MinLength)
	}
	if n > p.MaxLength {
		return fmt.Errorf("%w: use at most %d characters", ErrPasswordTooLong, p.MaxLength)
	}
	lower := strings.ToLower(password)
	if containsUsername(lower, strings.ToLower(strings.TrimSpace(username))) {
		return ErrPasswordIsUsername
	}
	if isCommon(lower) || isRepeated(lower) || isSequence(lower) {
		return ErrPasswordCommon
	}
	return nil
}

func containsUsername(lowerPassword, lowerUser string) bool {
	if lowerUser == "" {
		return false
	}
	if utf8.RuneCountInString(lowerUser) < minUsernameCheck {
		return lowerPassword == lowerUser
	}
	return strings.Contains(lowerPassword, lowerUser)
}

// isCommon reports whether lower, or what is left of it once decorations
// are taken off, is on the block list.
func isCommon(lower string) bool {
	plain, leet := skeletons(lower)
	for line := range strings.Lines(commonPasswords) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line == lower {
			return true
		}
		if s, _ := skeletons(line); s == plain || s == leet {
			return true
		}
	}
	return false
}

// edgeChars are ignored at either end of a password when comparing it with
// the block list.
const edgeChars = "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// skeletons returns two readings of a lower-case password for comparing
// with the block list. In plain, digits, punctuation and spaces at both
// ends are dropped and look-alike characters left in between are read as
// letters ("p@ssw0rd2024!" is "password"). In leet, only the end is
// dropped before look-alikes are read, so a look-alike at the start
// counts as a letter ("5up3rm4n123" is "superman"). A password made only
// of such characters is its own skeleton.
func skeletons(lower string) (plain, leet string) {
	plain = unLeet(strings.Trim(lower, edgeChars))
	leet = strings.TrimLeft(unLeet(strings.TrimRight(lower, edgeChars)), edgeChars)
	if plain == "" {
		plain = lower
	}
	if leet == "" {
		leet = lower
	}
	return plain, leet
}

// unLeet reads digits and symbols that stand in for letters as those
// letters.
func unLeet(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '@', '4':
			return 'a'
		case '3':
			return 'e'
		case '1':
			return 'i'
		case '0':
			return 'o'
		case '$', '5':
			return 's'
		case '7':
			return 't'
		}
		return r
	}, s)
}

// isRepeated reports whether s is nothing but one unit said again and
// again: a unit of up to maxRepeatUnit runes, any unit three or more
// times, or a common or sequential unit twice.
func isRepeated(s string) bool {
	r := []rune(s)
	for unit := 1; 2*unit <= len(r); unit++ {
		if len(r)%unit != 0 {
			continue
		}
		same := true
		for i := unit; i < len(r) && same; i++ {
			same = r[i] == r[i-unit]
		}
		if !same {
			continue
		}
		u := string(r[:unit])
		if unit <= maxRepeatUnit || len(r)/unit >= 3 || isCommon(u) || isSequence(u) {
			return true
		}
	}
	return false
}

// isSequence reports whether s, at least 3 long, is a straight run up or
// down the alphabet or the digits, where digits go round from 9 to 0.
func isSequence(s string) bool {
	if len(s) < 3 {
		return false
	}
	for _, up := range []bool{true, false} {
		run := true
		for i := 1; i < len(s) && run; i++ {
			next, ok := nextInRun(s[i-1], up)
			run = ok && next == s[i]
		}
		if run {
			return true
		}
	}
	return false
}

// nextInRun returns the character after c going up (or down) the digits
// or the lower-case letters.
func nextInRun(c byte, up bool) (byte, bool) {
	switch {
	case '0' <= c && c <= '9' && up:
		return '0' + (c-'0'+1)%10, true
	case '0' <= c && c <= '9':
		return '0' + (c-'0'+9)%10, true
	case 'a' <= c && c < 'z' && up:
		return c + 1, true
	case 'a' < c && c <= 'z' && !up:
		return c - 1, true
	}
	return 0, false
}
