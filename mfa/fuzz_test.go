package mfa

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzCheck feeds Check arbitrary codes and times for a fixed, valid
// secret. It must never panic, must fail only with ErrInvalidCode or
// ErrClockDrift, must accept only Digits ASCII digits, and must agree with
// the code of the step it reports.
func FuzzCheck(f *testing.F) {
	now := int64(1_700_000_000)
	good, err := TOTP{}.Code(rfcSecret, time.Unix(now, 0))
	if err != nil {
		f.Fatal(err)
	}
	for _, code := range []string{
		good, " " + good + " ", "\t" + good + "\n", "", "12345", "1234567", "12a456", "١٢٣٤٥٦", "１２３４５６",
		"+12345", "-12345", "\x00\x00\x00\x00\x00\x00", "\xff\xfe\xfd\xfc\xfb\xfa",
		strings.Repeat("1", 10000), "000000", "99999999",
	} {
		f.Add(code, now)
	}
	f.Add(good, int64(0))
	f.Add(good, int64(-1))
	f.Add(good, int64(math.MinInt64))
	f.Add(good, int64(math.MaxInt64))
	var totp TOTP
	f.Fuzz(func(t *testing.T, code string, unix int64) {
		at := time.Unix(unix, 0)
		step, err := totp.Check(rfcSecret, code, at)
		switch {
		case err == nil, errors.Is(err, ErrClockDrift):
			trimmed := strings.TrimSpace(code)
			if len(trimmed) != 6 || !allDigits(trimmed) {
				t.Fatalf("accepted %q (err %v)", code, err)
			}
			// codeAt, not Code: step*30 may overflow near the end of time.
			if want, cerr := totp.codeAt(rfcSecret, step); cerr != nil || want != trimmed {
				t.Fatalf("step %d has code %q (%v), not %q", step, want, cerr, trimmed)
			}
			d := step - totp.Step(at)
			if d < -10 || d > 10 || (err == nil && (d < -1 || d > 1)) {
				t.Fatalf("step %d is %d from now (err %v)", step, d, err)
			}
		case errors.Is(err, ErrInvalidCode):
			if step != 0 {
				t.Fatalf("step %d with ErrInvalidCode", step)
			}
		default:
			t.Fatalf("Check(%q) = %d, %v: want nil, ErrInvalidCode or ErrClockDrift", code, step, err)
		}
	})
}

// FuzzCheckSecret feeds Check arbitrary secrets, codes and times. It must
// never panic, and anything it accepts must agree with Code.
func FuzzCheckSecret(f *testing.F) {
	now := int64(1_700_000_000)
	good, err := TOTP{}.Code(rfcSecret, time.Unix(now, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rfcSecret, good, now)
	f.Add("", good, now)
	f.Add("a", good, now)
	f.Add(strings.ToLower(rfcSecret)+"====", good, int64(0))
	f.Add(" "+rfcSecret+"\n", good, now)
	f.Add(strings.Repeat("A", 2000), good, now)
	f.Add(rfcSecret, good, int64(1<<62))
	f.Fuzz(func(t *testing.T, secret, code string, unix int64) {
		var totp TOTP
		at := time.Unix(unix, 0)
		step, err := totp.Check(secret, code, at)
		if err != nil && !errors.Is(err, ErrClockDrift) {
			if step != 0 {
				t.Fatalf("step %d with error %v", step, err)
			}
			return
		}
		trimmed := strings.TrimSpace(code)
		if len(trimmed) != 6 || !allDigits(trimmed) {
			t.Fatalf("accepted %q", code)
		}
		if checkSecret(secret) != nil {
			t.Fatalf("accepted a code for the bad secret %q", secret)
		}
		if want, cerr := totp.codeAt(secret, step); cerr != nil || want != trimmed {
			t.Fatalf("step %d has code %q (%v), not %q", step, want, cerr, trimmed)
		}
	})
}

// FuzzOpen feeds Open arbitrary text and associated data. It must never
// panic, must fail with ErrSealedSecret on anything but Seal's output,
// and Seal followed by Open must give back the plaintext.
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := NewSealer(key)
	if err != nil {
		f.Fatal(err)
	}
	// A fixed ciphertext, since fuzz workers run this setup again and
	// Seal's nonce is random: "secret" sealed for "u-1" with key.
	const sealed = "v1.CqSqOFbsx4R_ai-l6K2k80_0cIzVhEX0MFsWCZA-jTfm3Q"
	if pt, err := s.Open(sealed, []byte("u-1")); err != nil || string(pt) != "secret" {
		f.Fatalf("fixed ciphertext opens to %q, %v", pt, err)
	}
	for _, in := range []string{sealed, "", "v1.", "v1.AAAA", "v1.!!!", "v2." + sealed[3:], sealed[:len(sealed)-1], sealed + "A"} {
		f.Add(in, []byte("u-1"))
	}
	f.Add(sealed, []byte(nil))
	f.Add(sealed[:10]+"\n"+sealed[10:], []byte("u-1"))
	f.Add("v1."+strings.Repeat("A", 100<<10), []byte("u-1"))
	f.Fuzz(func(t *testing.T, text string, ad []byte) {
		pt, err := s.Open(text, ad)
		if err != nil && (!errors.Is(err, ErrSealedSecret) || pt != nil) {
			t.Fatalf("Open = %q, %v", pt, err)
		}
		// Only the genuine ciphertext with its owner opens (base64
		// decoding skips line breaks, so they may be sprinkled in).
		unbroken := strings.NewReplacer("\r", "", "\n", "").Replace(text)
		if err == nil && (unbroken != sealed || !bytes.Equal(ad, []byte("u-1"))) {
			t.Fatalf("forged text %q opened to %q", text, pt)
		}
		// Seal's output for a plaintext over about 48 KiB is longer than
		// Open reads (maxSealedLen), so the round trip holds only for
		// small secrets, which is all Seal is for.
		if len(text) > 4<<10 {
			return
		}
		again, err := s.Seal([]byte(text), ad)
		if err != nil {
			t.Fatal(err)
		}
		back, err := s.Open(again, ad)
		if err != nil || string(back) != text {
			t.Fatalf("round trip of %q gave %q, %v", text, back, err)
		}
	})
}

// FuzzVerify feeds Verify arbitrary stored hashes. It must never panic,
// and a hash it does not refuse must be within bounds.
func FuzzVerify(f *testing.F) {
	h := newTestHasher(f, 1)
	good, err := h.Hash(context.Background(), "password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$rk/PSeKBr+Da+yIL37cQBQ")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, enc string) {
		p, _, _, derr := decodeHash(enc, storedMemoryKiB)
		if derr == nil {
			if p.within(storedMemoryKiB) != nil {
				t.Fatalf("decoded out-of-bounds parameters %+v", p)
			}
			if p.MemoryKiB > 1<<12 || p.Time > 4 {
				return // valid but too slow to run in a fuzz loop
			}
		}
		ok, err := h.Verify(context.Background(), enc, "password")
		if err != nil && !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("Verify error %v does not wrap ErrMalformedHash", err)
		}
		if (err != nil) != (derr != nil && enc != "") || (ok && err != nil) {
			t.Fatalf("Verify = %t, %v; decode error %v", ok, err, derr)
		}
	})
}

// FuzzDecodeHash feeds decodeHash arbitrary text. It must never panic; it
// must refuse with ErrMalformedHash or return parameters, salt and key
// within bounds; and what encodeHash writes must decode to the same.
func FuzzDecodeHash(f *testing.F) {
	salt := "c29tZXNhbHRzb21lc2FsdA"
	key := "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	for _, s := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"", "$argon2id$", "$$$$$", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=999,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key,
		"$argon2id$v=19$m=064,t=01,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "\n",
		strings.Repeat("A", 10<<10),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodeHash(s, storedMemoryKiB)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			if salt != nil || key != nil {
				t.Fatalf("error %v with salt %x, key %x", err, salt, key)
			}
			return
		}
		if perr := p.within(storedMemoryKiB); perr != nil {
			t.Fatalf("decoded out-of-bounds parameters: %v", perr)
		}
		if len(salt) < minStoredSalt || len(key) < minStoredKey || len(key) > maxStoredKey {
			t.Fatalf("decoded a %d-byte salt and a %d-byte key", len(salt), len(key))
		}
		p2, salt2, key2, err := decodeHash(encodeHash(p, salt, key), storedMemoryKiB)
		if err != nil || p2 != p || !bytes.Equal(salt2, salt) || !bytes.Equal(key2, key) {
			t.Fatalf("re-encoding does not round trip: %+v, %v", p2, err)
		}
	})
}
