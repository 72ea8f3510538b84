package mfa

import (
	"context"
	"testing"
	"time"
)

func BenchmarkCheck(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	var totp TOTP
	good, err := totp.Code(rfcSecret, now)
	if err != nil {
		b.Fatal(err)
	}
	// Check does the same work whether or not the code matches.
	for name, code := range map[string]string{"match": good, "no match": "000000"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = totp.Check(rfcSecret, code, now)
			}
		})
	}
}

func BenchmarkHashRecoveryCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = HashRecoveryCode("ABCD-efgh-jkmn-0123")
	}
}

func BenchmarkLooksLikeRecoveryCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = LooksLikeRecoveryCode("123456")
	}
}

func BenchmarkVerifyDefaultParams(b *testing.B) {
	h, err := NewPasswordHasher(PasswordHasherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, _ = h.Verify(context.Background(), enc, "correct horse battery staple")
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newTestSealer(b)
	sealed, err := s.Seal([]byte(rfcSecret), []byte("u-alice"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Open(sealed, []byte("u-alice"))
	}
}

func BenchmarkPasswordPolicyCheck(b *testing.B) {
	p := DefaultPasswordPolicy()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Check("alice", "correct horse battery staple")
	}
}
