package session

import (
	"context"
	"testing"
)

// BenchmarkAuthenticateCached is the proxy's per-request session check
// once the session is in memory.
func BenchmarkAuthenticateCached(b *testing.B) {
	f := newFixture(b, fixtureOpts{mfaRequired: []string{"nobody"}})
	f.addUser("alice", false)
	res, err := f.login("alice", testPassword, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.m.Authenticate(ctx, res.Token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.m.Authenticate(ctx, res.Token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateCachedSerial is the same check on one goroutine:
// the latency one request sees.
func BenchmarkAuthenticateCachedSerial(b *testing.B) {
	f := newFixture(b, fixtureOpts{mfaRequired: []string{"nobody"}})
	f.addUser("alice", false)
	res, err := f.login("alice", testPassword, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.m.Authenticate(ctx, res.Token); err != nil {
			b.Fatal(err)
		}
	}
}
