package mfa

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestPasswordPolicyCheck(t *testing.T) {
	t.Parallel()
	def := DefaultPasswordPolicy()
	nist := PasswordPolicy{MinLength: 8, MaxLength: MinMaxLength} // the lowest bounds Validate accepts
	tests := []struct {
		name     string
		policy   PasswordPolicy
		user     string
		password string
		want     error
	}{
		{"passphrase", def, "alice", "correct horse battery staple", nil},
		{"passphrase from other tests", def, "bench", "a long enough passphrase", nil},
		{"exactly 12", def, "alice", "tuba-violin7", nil},
		{"11 is short", def, "alice", "tuba-violin", ErrPasswordTooShort},
		{"empty", def, "alice", "", ErrPasswordTooShort},
		{"12 runes of cyrillic", def, "alice", "пароль-длинн", nil},
		{"11 runes of cyrillic, 21 bytes", def, "alice", "пароль-длин", ErrPasswordTooShort},
		{"emoji count as one each", def, "alice", "🦀🐹🦊🐙🐢🦉🐝🐬🦋🐌🦔🐧", nil},
		{"CJK passphrase", def, "alice", "我的密码很长而且很好记住呢", nil},
		{"exactly 256", def, "alice", strings.Repeat("abcdefgh", 32), ErrPasswordCommon},
		{"exactly 256 varied", def, "alice", varied(256), nil},
		{"257 is long", def, "alice", varied(257), ErrPasswordTooLong},
		{"1 MB is long", def, "alice", varied(1 << 20), ErrPasswordTooLong},
		{"256 multi-byte runes", def, "alice", strings.Repeat("ж", 255) + "q", nil},
		{"huge maximum", PasswordPolicy{MinLength: 12, MaxLength: math.MaxInt}, "alice", varied(5000), nil},
		{"huge minimum", PasswordPolicy{MinLength: math.MaxInt, MaxLength: 64}, "alice", varied(20), ErrPasswordTooShort},
		{"custom minimum", PasswordPolicy{MinLength: 20, MaxLength: 64}, "alice", "correct horse battery", nil},
		{"custom minimum short", PasswordPolicy{MinLength: 22, MaxLength: 64}, "alice", "correct horse battery", ErrPasswordTooShort},
		{"zero policy is default", PasswordPolicy{}, "alice", "tuba-violin", ErrPasswordTooShort},
		{"username inside", def, "alice", "alice-in-wonderland", ErrPasswordIsUsername},
		{"username in other case", def, "alice", "myALICEpassphrase", ErrPasswordIsUsername},
		{"username with capitals", def, "Alice", "hello alice my friend", ErrPasswordIsUsername},
		{"username with spaces around", def, " alice ", "hello alice my friend", ErrPasswordIsUsername},
		{"email username", def, "bob@example.com", "bob@example.com!", ErrPasswordIsUsername},
		{"short username not searched", def, "al", "algebra is lovely", nil},
		{"short username as the password", PasswordPolicy{MinLength: 1, MaxLength: 64}, "al", "AL", ErrPasswordIsUsername},
		{"empty username", def, "", "correct horse battery staple", nil},
		{"common", def, "alice", "password1234", ErrPasswordCommon},
		{"common in capitals", def, "alice", "PASSWORD1234", ErrPasswordCommon},
		{"common, decorated", def, "alice", "P@ssw0rd2024!", ErrPasswordCommon},
		{"common, decorated both ends", def, "alice", "!!qwertyuiop!!", ErrPasswordCommon},
		{"common, spaces around", def, "alice", "  iloveyou  2024", ErrPasswordCommon},
		{"common, look-alikes", def, "alice", "5up3rm4n123456", ErrPasswordCommon},
		{"context word", def, "alice", "Stepgate2026!", ErrPasswordCommon},
		{"common digits", def, "alice", "111111111111", ErrPasswordCommon},
		{"repeated letter", def, "alice", "aaaaaaaaaaaaaaaa", ErrPasswordCommon},
		{"repeated unit", def, "alice", "abcabcabcabc", ErrPasswordCommon},
		{"repeated 6-unit", def, "alice", "zq8!kpzq8!kp", ErrPasswordCommon},
		{"repeated 7-unit is allowed", def, "alice", "zq8!kpmzq8!kpm", nil},
		{"7-unit three times", def, "alice", "zq8!kpmzq8!kpmzq8!kpm", ErrPasswordCommon},
		{"common unit twice", def, "alice", "iloveyouiloveyou", ErrPasswordCommon},
		{"leading digits", def, "alice", "123password456", ErrPasswordCommon},
		{"sequence up", def, "alice", "abcdefghijklmn", ErrPasswordCommon},
		{"sequence down", def, "alice", "zyxwvutsrqpo", ErrPasswordCommon},
		{"digit run wraps", def, "alice", "7890123456789", ErrPasswordCommon},
		{"digit run down", def, "alice", "210987654321", ErrPasswordCommon},
		{"common word inside a passphrase", def, "alice", "my password is long", nil},
		{"common word with more letters", def, "alice", "passwordsmith42", nil},
		{"no composition rules", def, "alice", "alllowercaseletters", nil},
		{"invalid utf-8 still counted", def, "alice", "\xff\xfe" + "kpzq8mwx7rt", nil},
		// The same rules at NIST's minimum of 8.
		{"min 8: exactly 8", nist, "alice", "kq7 wz3m", nil},
		{"min 8: 7 is short", nist, "alice", "kq7 wz3", ErrPasswordTooShort},
		{"min 8: 8 runes in 11 bytes", nist, "alice", "żółw kot", nil},
		{"min 8: 7 runes in 10 bytes", nist, "alice", "żółw ko", ErrPasswordTooShort},
		{"min 8: 128 is the maximum", nist, "alice", varied(128), nil},
		{"min 8: 129 is long", nist, "alice", varied(129), ErrPasswordTooLong},
		{"min 8: 128 multi-byte runes", nist, "alice", strings.Repeat("ж", 127) + "q", nil},
		{"min 8: username in capitals", nist, "alice", "xALICEx99q", ErrPasswordIsUsername},
		{"min 8: capital username", nist, "ALICE", "wonderland-alice", ErrPasswordIsUsername},
		{"min 8: two-letter username not searched", nist, "bo", "bonfire-night", nil},
		{"min 8: password123", nist, "alice", "password123", ErrPasswordCommon},
		{"min 8: Password123!", nist, "alice", "Password123!", ErrPasswordCommon},
		{"min 8: qwertyuiop", nist, "alice", "qwertyuiop", ErrPasswordCommon},
		{"min 8: correcthorsebatterystaple", nist, "alice", "correcthorsebatterystaple", ErrPasswordCommon},
		{"min 8: random passphrase", nist, "alice", "violet tractor mango seventeen harbor", nil},
		{"min 8: random characters", nist, "alice", "Zr8#qLm2!vT9", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Check(tt.user, tt.password)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Check(%q, %.40q) = %v, want %v", tt.user, tt.password, err, tt.want)
			}
		})
	}
}

// varied returns n runes with no pattern the policy refuses.
func varied(n int) string {
	const src = "tk4 mq9xbr2 wjz7 hvc5 pnd8 gsf3 ly"
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteByte(src[(i*7+i/len(src))%len(src)])
	}
	return sb.String()
}

func TestPasswordErrorsAreUserFacing(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrPasswordTooShort, ErrPasswordTooLong, ErrPasswordCommon, ErrPasswordIsUsername} {
		msg := err.Error()
		if msg != strings.ToLower(msg) || strings.HasSuffix(msg, ".") || !strings.HasPrefix(msg, "password") {
			t.Errorf("message %q is not a lowercase sentence about the password", msg)
		}
	}
	err := DefaultPasswordPolicy().Check("alice", "short")
	if !strings.Contains(err.Error(), "12") {
		t.Errorf("too-short message %q does not say the minimum", err)
	}
}

func TestPasswordPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		policy PasswordPolicy
		ok     bool
	}{
		"default":           {DefaultPasswordPolicy(), true},
		"zero":              {PasswordPolicy{}, true},
		"lowest bounds":     {PasswordPolicy{MinLength: 8, MaxLength: 128}, true},
		"min 7":             {PasswordPolicy{MinLength: 7, MaxLength: 128}, false},
		"max 127":           {PasswordPolicy{MinLength: 8, MaxLength: 127}, false},
		"max 64":            {PasswordPolicy{MinLength: 8, MaxLength: 64}, false},
		"max 63":            {PasswordPolicy{MinLength: 8, MaxLength: 63}, false},
		"max below min":     {PasswordPolicy{MinLength: 200, MaxLength: 150}, false},
		"min equals max":    {PasswordPolicy{MinLength: 128, MaxLength: 128}, true},
		"zero max, min 12":  {PasswordPolicy{MinLength: 12}, true},
		"zero max, min 300": {PasswordPolicy{MinLength: 300}, false},
	}
	for name, tt := range tests {
		if err := tt.policy.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%t", name, err, tt.ok)
		}
	}
	if err := (PasswordPolicy{MinLength: 8, MaxLength: 64}).Validate(); err == nil || !strings.Contains(err.Error(), "below 128") {
		t.Errorf("a maximum of 64 gives %v, want it to say the floor of 128", err)
	}
}

func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	n := 0
	for line := range strings.Lines(commonPasswords) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		if line != strings.ToLower(strings.TrimSpace(line)) {
			t.Errorf("entry %q is not trimmed lower case", line)
		}
		if seen[line] {
			t.Errorf("entry %q repeats", line)
		}
		seen[line] = true
		if !isCommon(line) {
			t.Errorf("entry %q is not found by isCommon", line)
		}
	}
	if n < 300 {
		t.Errorf("list has %d entries, want a few hundred", n)
	}
}
