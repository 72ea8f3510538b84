package mfa

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

func TestNewRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes, hashes, err := NewRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("got %d codes and %d hashes, want %d", len(codes), len(hashes), RecoveryCodeCount)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !recoveryShape.MatchString(c) {
			t.Errorf("code %q is not xxxx-xxxx-xxxx-xxxx in Crockford base32", c)
		}
		if seen[c] {
			t.Errorf("code %q repeats", c)
		}
		seen[c] = true
		if hashes[i] != HashRecoveryCode(c) {
			t.Errorf("hash %d is not HashRecoveryCode(code %d)", i, i)
		}
		// The forms a person may type it in hash the same and still look
		// like a recovery code.
		variants := []string{
			c,
			strings.ToUpper(c),
			strings.ReplaceAll(c, "-", ""),
			strings.ToUpper(strings.ReplaceAll(c, "-", "")),
			"  " + strings.ReplaceAll(c, "-", " ") + "  ",
			"\t" + c + "\n",
		}
		for _, v := range variants {
			if HashRecoveryCode(v) != hashes[i] {
				t.Errorf("HashRecoveryCode(%q) differs from the hash of %q", v, c)
			}
			if !LooksLikeRecoveryCode(v) {
				t.Errorf("LooksLikeRecoveryCode(%q) = false", v)
			}
		}
	}
	if len(map[string]bool{hashes[0]: true, hashes[1]: true}) != 2 {
		t.Error("two codes share a hash")
	}
}

func TestRecoveryCodesUseEveryBit(t *testing.T) {
	t.Parallel()
	// Over many codes, every symbol turns up in every position: no
	// position is stuck, as it would be if bits were dropped.
	const rounds = 100 // 1000 codes: a flake's odds are 16*32*(31/32)^1000, about 1e-11
	seen := make([]map[byte]bool, 16)
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range rounds {
		codes, _, err := NewRecoveryCodes()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			for i, b := range []byte(strings.ReplaceAll(c, "-", "")) {
				seen[i][b] = true
			}
		}
	}
	for i, s := range seen {
		if len(s) != 32 {
			t.Errorf("position %d saw %d symbols, want 32", i, len(s))
		}
	}
}

func TestHashRecoveryCodeNormalizes(t *testing.T) {
	t.Parallel()
	base := HashRecoveryCode("abcd-efgh-jkmn-0123")
	same := []string{
		"abcd-efgh-jkmn-0123",
		"ABCD-EFGH-JKMN-0123",
		"ABCD-efgh-JkMn-0123",
		"abcdefghjkmn0123",
		" abcd efgh jkmn 0123 ",
		"\tabcd-efgh-jkmn-0123\r\n",
	}
	for _, c := range same {
		if got := HashRecoveryCode(c); got != base {
			t.Errorf("HashRecoveryCode(%q) differs from the canonical form", c)
		}
	}
	lookAlike := HashRecoveryCode("abcd-efgh-jkmn-0113")
	for _, c := range []string{"abcd-efgh-jkmn-O1I3", "abcd-efgh-jkmn-olL3", "ABCD-EFGH-JKMN-oiI3"} {
		if HashRecoveryCode(c) != lookAlike {
			t.Errorf("HashRecoveryCode(%q) does not read o as 0 and i, l as 1", c)
		}
	}
	for _, c := range []string{"abcd-efgh-jkmn-0124", "abcd-efgh-jkmn-012", "bacd-efgh-jkmn-0123"} {
		if HashRecoveryCode(c) == base {
			t.Errorf("HashRecoveryCode(%q) collides", c)
		}
	}
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Errorf("hash %q is not 64 hex digits", base)
	}
}

func TestLooksLikeRecoveryCode(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"abcd-efgh-jkmn-0123":    true,
		"ABCDEFGHJKMN0123":       true,
		"abcd efgh jkmn 0123":    true,
		"0000-0000-0000-0000":    true,
		"uuuu-uuuu-uuuu-uuuu":    true, // codes from the older alphabet had u
		"123456":                 false,
		"12345678":               false,
		" 123456 ":               false,
		"":                       false,
		"abcd-efgh-jkmn-012":     false,
		"abcd-efgh-jkmn-01234":   false,
		"abcd-efgh-jkmn-01é3":    false,
		"abcd-efgh-jkmn-01_3":    false,
		strings.Repeat("-", 100): false,
		strings.Repeat("a", 100): false,
		strings.Repeat("1", 100): false,
		strings.Repeat("ab", 50): false,
		"abcd-efgh-jkmn-0123" + strings.Repeat(" ", 50): false, // over 64 bytes before normalizing
		// 0 and 1 are symbols of the alphabet (and o, i, l read as them),
		// so 16 digits have the shape; a TOTP code has at most 8.
		"1234567890123456":                           true,
		"1111-0000-1111-0000":                        true,
		"oooo-iiii-llll-0000":                        true,
		strings.Repeat(" ", 48) + "abcdefghjkmn0123": true,
	}
	got := map[string]bool{}
	for c := range tests {
		got[c] = LooksLikeRecoveryCode(c)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("LooksLikeRecoveryCode (-want +got):\n%s", diff)
	}
}
