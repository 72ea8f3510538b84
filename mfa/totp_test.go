package mfa

import (
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp"
)

// rfcSecret is RFC 6238's SHA1 seed, the ASCII "12345678901234567890", in
// base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestRFCSecret(t *testing.T) {
	t.Parallel()
	// The constant is the RFC's seed, encoded here by the standard library
	// rather than by the package under test.
	want := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	if rfcSecret != want {
		t.Fatalf("rfcSecret = %q, want %q", rfcSecret, want)
	}
}

func TestCodeRFC6238Vectors(t *testing.T) {
	t.Parallel()
	// RFC 6238 appendix B, SHA1 rows. Six-digit codes are the last six
	// digits of the eight-digit ones.
	tests := []struct {
		unix  int64
		eight string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		t.Run(tt.eight, func(t *testing.T) {
			t.Parallel()
			at := time.Unix(tt.unix, 0)
			got := map[int]string{}
			for _, digits := range []int{6, 7, 8} {
				c, err := TOTP{Digits: digits}.Code(rfcSecret, at)
				if err != nil {
					t.Fatalf("Code(digits=%d): %v", digits, err)
				}
				got[digits] = c
			}
			want := map[int]string{6: tt.eight[2:], 7: tt.eight[1:], 8: tt.eight}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	var totp TOTP
	center := totp.Step(now)
	type test struct {
		name    string
		totp    TOTP
		offset  int // steps from now at which the code was made
		wantErr error
	}
	var tests []test
	// With the defaults, ±1 step is accepted, 2 to 10 steps either way is
	// drift, and anything further is invalid.
	for offset := -12; offset <= 12; offset++ {
		var want error
		switch a := max(offset, -offset); {
		case a >= 11:
			want = ErrInvalidCode
		case a >= 2:
			want = ErrClockDrift
		}
		tests = append(tests, test{fmt.Sprintf("default %+d", offset), totp, offset, want})
	}
	tests = append(tests,
		test{"an hour ahead is invalid", totp, 120, ErrInvalidCode},
		test{"an hour back is invalid", totp, -120, ErrInvalidCode},
		test{"skew 2 accepts two back", TOTP{Skew: 2}, -2, nil},
		test{"skew 2 calls three back drift", TOTP{Skew: 2}, -3, ErrClockDrift},
		test{"no skew refuses one back", TOTP{Skew: -1}, -1, ErrClockDrift},
		test{"no drift diagnosis", TOTP{DriftSteps: -1}, 2, ErrInvalidCode},
		test{"drift 20", TOTP{DriftSteps: 20}, -20, ErrClockDrift},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := now.Add(time.Duration(tt.offset) * 30 * time.Second)
			code, err := tt.totp.Code(rfcSecret, at)
			if err != nil {
				t.Fatal(err)
			}
			step, err := tt.totp.Check(rfcSecret, code, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check err = %v, want %v", err, tt.wantErr)
			}
			wantStep := center + int64(tt.offset)
			if errors.Is(tt.wantErr, ErrInvalidCode) {
				wantStep = 0
			}
			if step != wantStep {
				t.Errorf("Check step = %d, want %d", step, wantStep)
			}
		})
	}
}

func TestCheckStepWithinPeriod(t *testing.T) {
	t.Parallel()
	// Every instant of a step gives that step, and the code made at its
	// first second is accepted at its last.
	start := time.Unix(1_700_000_010, 0) // a step boundary: 1_700_000_010 = 30 * 56_666_667
	var totp TOTP
	code, err := totp.Code(rfcSecret, start)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 29*time.Second + 999*time.Millisecond} {
		step, err := totp.Check(rfcSecret, code, start.Add(d))
		if err != nil || step != 56_666_667 {
			t.Errorf("at +%v: step %d, err %v; want 56666667", d, step, err)
		}
	}
}

func TestCheckHostileCodes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	good, err := TOTP{}.Code(rfcSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		code    string
		wantErr error
	}{
		"empty":                 {"", ErrInvalidCode},
		"five digits":           {"12345", ErrInvalidCode},
		"seven digits":          {"1234567", ErrInvalidCode},
		"letter":                {"12a456", ErrInvalidCode},
		"arabic-indic digits":   {"١٢٣٤٥٦", ErrInvalidCode},
		"fullwidth digits":      {"１２３４５６", ErrInvalidCode},
		"sign":                  {"+12345", ErrInvalidCode},
		"inner space":           {good[:3] + " " + good[3:], ErrInvalidCode},
		"nul":                   {good[:5] + "\x00", ErrInvalidCode},
		"invalid utf-8":         {"\xff\xfe\xfd\xfc\xfb\xfa", ErrInvalidCode},
		"10 KB":                 {strings.Repeat("1", 10<<10), ErrInvalidCode},
		"10 KB of spaces":       {strings.Repeat(" ", 10<<10), ErrInvalidCode},
		"good code":             {good, nil},
		"good code with spaces": {" " + good + " ", nil},
		"good code with tabs":   {"\t" + good + "\n", nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := TOTP{}.Check(rfcSecret, tt.code, now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Check(%.20q) = %v, want %v", tt.code, err, tt.wantErr)
			}
		})
	}
}

func TestCheckBadSecret(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	for name, secret := range map[string]string{
		"empty":      "",
		"not base32": "not base32!",
		"80 bits":    "GEZDGNBVGY3TQOJQ",
		"huge":       strings.Repeat("A", 10<<10),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := TOTP{}.Check(secret, "123456", now)
			if err == nil || errors.Is(err, ErrInvalidCode) || errors.Is(err, ErrClockDrift) {
				t.Errorf("Check with %s secret: err = %v, want a secret error", name, err)
			}
			if _, err := (TOTP{}).Code(secret, now); err == nil {
				t.Errorf("Code with %s secret: no error", name)
			}
		})
	}
}

func TestSecretForms(t *testing.T) {
	t.Parallel()
	// Lower case, padding and spaces around are all read as the same key.
	at := time.Unix(59, 0)
	for _, s := range []string{rfcSecret, strings.ToLower(rfcSecret), " " + rfcSecret + "\n"} {
		got, err := TOTP{}.Code(s, at)
		if err != nil || got != "287082" {
			t.Errorf("Code(%q) = %q, %v; want 287082", s, got, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		totp TOTP
		ok   bool
	}{
		"zero value":          {TOTP{}, true},
		"eight digits, 60 s":  {TOTP{Digits: 8, Period: time.Minute}, true},
		"five digits":         {TOTP{Digits: 5}, false},
		"nine digits":         {TOTP{Digits: 9}, false},
		"half-second period":  {TOTP{Period: 500 * time.Millisecond}, false},
		"fractional period":   {TOTP{Period: 1500 * time.Millisecond}, false},
		"negative period":     {TOTP{Period: -time.Second}, false},
		"two hours":           {TOTP{Period: 2 * time.Hour}, false},
		"skew 11":             {TOTP{Skew: 11}, false},
		"drift 101":           {TOTP{DriftSteps: 101}, false},
		"colon in issuer":     {TOTP{Issuer: "a:b"}, false},
		"space in issuer":     {TOTP{Issuer: "stepgate demo"}, true},
		"drift below skew ok": {TOTP{Skew: 5, DriftSteps: 2}, true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tt.totp.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			// Step never panics, whatever the settings.
			_ = tt.totp.Step(time.Now())
			if _, cerr := tt.totp.Check(rfcSecret, "123456", time.Now()); !tt.ok && cerr == nil {
				t.Error("Check with bad settings: no error")
			}
		})
	}
}

func TestStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {-1, -1}, {-30, -1}, {-31, -2}}
	for _, tt := range tests {
		if got := (TOTP{}).Step(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
	if _, err := (TOTP{}).Code(rfcSecret, time.Unix(-1, 0)); err == nil {
		t.Error("Code before the epoch: no error")
	}
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		totp    TOTP
		account string
		want    map[string]string
	}{
		{"defaults", TOTP{}, "alice", map[string]string{
			"scheme": "otpauth", "host": "totp", "label": "stepgate:alice",
			"issuer": "stepgate", "algorithm": "SHA1", "digits": "6", "period": "30",
		}},
		{"custom", TOTP{Issuer: "stepgate demo", Period: time.Minute, Digits: 8}, "bob@example.com", map[string]string{
			"scheme": "otpauth", "host": "totp", "label": "stepgate demo:bob@example.com",
			"issuer": "stepgate demo", "algorithm": "SHA1", "digits": "8", "period": "60",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := tt.totp.NewKey(tt.account)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(key.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			got := map[string]string{
				"scheme": u.Scheme, "host": u.Host, "label": strings.TrimPrefix(u.Path, "/"),
				"issuer": q.Get("issuer"), "algorithm": q.Get("algorithm"), "digits": q.Get("digits"), "period": q.Get("period"),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("URL %q (-want +got):\n%s", key.URL, diff)
			}
			if q.Get("secret") != key.Secret {
				t.Errorf("secret in URL %q, in Key %q", q.Get("secret"), key.Secret)
			}
			if strings.Contains(key.URL, "+") {
				t.Errorf("URL %q encodes a space as +", key.URL)
			}
			raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret)
			if err != nil || len(raw) != 20 {
				t.Errorf("secret %q decodes to %d bytes (%v), want 20", key.Secret, len(raw), err)
			}
			// An independent otpauth parser reads the same.
			k, err := otp.NewKeyFromURL(key.URL)
			if err != nil {
				t.Fatal(err)
			}
			if k.Issuer() != tt.want["issuer"] || k.AccountName() != tt.account || k.Secret() != key.Secret {
				t.Errorf("otp reads issuer %q, account %q, secret %q", k.Issuer(), k.AccountName(), k.Secret())
			}
			// The key works with the same settings.
			now := time.Now()
			code, err := tt.totp.Code(key.Secret, now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.totp.Check(key.Secret, code, now); err != nil {
				t.Errorf("Check of a fresh key's code: %v", err)
			}
		})
	}
}

func TestNewKeyRefuses(t *testing.T) {
	t.Parallel()
	for _, account := range []string{"", "a:b"} {
		if _, err := (TOTP{}).NewKey(account); err == nil {
			t.Errorf("NewKey(%q): no error", account)
		}
	}
	a, errA := TOTP{}.NewKey("alice")
	b, errB := TOTP{}.NewKey("alice")
	if errA != nil || errB != nil {
		t.Fatalf("NewKey: %v, %v", errA, errB)
	}
	if a.Secret == b.Secret || a.URL == b.URL {
		t.Error("two keys share a secret")
	}
}
