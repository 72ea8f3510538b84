package mfa

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fastParams keep tests quick; production uses DefaultArgon2Params.
var fastParams = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newTestHasher(t testing.TB, maxConcurrent int) *PasswordHasher {
	t.Helper()
	h, err := NewPasswordHasher(PasswordHasherOptions{Params: fastParams, MaxConcurrent: maxConcurrent})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newTestHasher(t, 2)
	const pw = "correct horse battery staple"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q does not start with the PHC prefix", enc)
	}
	again, _ := h.Hash(ctx, pw)
	if again == enc {
		t.Error("two hashes of one password are equal: salt is not fresh")
	}
	tests := map[string]struct {
		password string
		want     bool
	}{
		"right":          {pw, true},
		"wrong":          {"correct horse battery stapler", false},
		"case differs":   {"Correct horse battery staple", false},
		"empty":          {"", false},
		"with a newline": {pw + "\n", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			before := h.Work()
			ok, err := h.Verify(ctx, enc, tt.password)
			if err != nil || ok != tt.want {
				t.Errorf("Verify = %t, %v; want %t", ok, err, tt.want)
			}
			if h.Work() <= before {
				t.Error("Verify did no argon2 work")
			}
		})
	}
}

func TestVerifyReferenceHashes(t *testing.T) {
	t.Parallel()
	// Made by the reference argon2 command-line tool, e.g.
	// echo -n password | argon2 somesalt -id -t 3 -k 64 -p 2 -l 16 -e,
	// so the format is the standard one and not just our own round trip.
	tests := []struct{ enc, password string }{
		{"$argon2id$v=19$m=64,t=1,p=1$c3RlcGdhdGVzYWx0$5qAonEBdMbMMSq1brOgc8LJWH9MBW3OGF8tzqvOO2a8", "correct horse battery staple"},
		{"$argon2id$v=19$m=64,t=3,p=2$c29tZXNhbHQ$rk/PSeKBr+Da+yIL37cQBQ", "password"},
	}
	h := newTestHasher(t, 1)
	for _, tt := range tests {
		ok, err := h.Verify(context.Background(), tt.enc, tt.password)
		if err != nil || !ok {
			t.Errorf("Verify(%s) = %t, %v", tt.enc, ok, err)
		}
		if ok, _ := h.Verify(context.Background(), tt.enc, tt.password+"x"); ok {
			t.Errorf("Verify(%s) accepts a wrong password", tt.enc)
		}
	}
}

func TestVerifyUnknownUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newTestHasher(t, 1)
	enc, err := h.Hash(ctx, "some password here")
	if err != nil {
		t.Fatal(err)
	}
	// A known user and an unknown one cost the same: one argon2 each.
	for _, stored := range []string{enc, ""} {
		before := h.Work()
		ok, err := h.Verify(ctx, stored, "some password here")
		if err != nil {
			t.Fatal(err)
		}
		if want := stored != ""; ok != want {
			t.Errorf("Verify(%q) = %t, want %t", stored, ok, want)
		}
		if got := h.Work() - before; got != 1 {
			t.Errorf("Verify(%q) did %d argon2 computations, want 1", stored, got)
		}
	}
	// Nothing verifies against the dummy, not even the empty password.
	if ok, _ := h.Verify(ctx, "", ""); ok {
		t.Error("empty password verified as an unknown user")
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	good, err := newTestHasher(t, 1).Hash(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	salt := "c29tZXNhbHRzb21lc2FsdA"
	key := "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	hostile := map[string]string{
		"garbage":               "not a hash",
		"bcrypt":                "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":               "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"old version":           "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"huge memory":           "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"memory just too big":   "$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + key,
		"memory overflows":      "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key,
		"huge time":             "$argon2id$v=19$m=64,t=4294967295,p=1$" + salt + "$" + key,
		"time 21":               "$argon2id$v=19$m=64,t=21,p=1$" + salt + "$" + key,
		"huge threads":          "$argon2id$v=19$m=64,t=1,p=255$" + salt + "$" + key,
		"threads overflow":      "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"zero time":             "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"zero threads":          "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"too little memory":     "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"negative":              "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"plus sign":             "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"params out of order":   "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"param twice":           "$argon2id$v=19$m=64,m=64,t=1,p=1$" + salt + "$" + key,
		"missing param":         "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"empty params":          "$argon2id$v=19$$" + salt + "$" + key,
		"salt not base64":       "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key,
		"salt too short":        "$argon2id$v=19$m=64,t=1,p=1$YWJj$" + key,
		"empty hash":            "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"hash too short":        "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$YWJj",
		"hash too long":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 120),
		"padded base64":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"extra field":           good + "$x",
		"missing field":         strings.TrimSuffix(good, "$"+good[strings.LastIndex(good, "$")+1:]),
		"no leading dollar":     strings.TrimPrefix(good, "$"),
		"10 KB":                 "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 10<<10) + "$" + key,
		"only dollars":          "$$$$$",
		"unicode digits":        "$argon2id$v=19$m=٦٤,t=1,p=1$" + salt + "$" + key,
		"whitespace in params":  "$argon2id$v=19$m= 64,t=1,p=1$" + salt + "$" + key,
		"newline inside base64": "$argon2id$v=19$m=64,t=1,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + key,
		"only the algorithm":    "$argon2id$",
		"argon2i, short hash":   "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"time 999":              "$argon2id$v=19$m=64,t=999,p=1$" + salt + "$" + key,
		"threads 300":           "$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key,
		"hash not base64":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:40] + "!!!",
		"url alphabet":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-_",
		"key of 15 bytes":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 20),
		"key of 65 bytes":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 87),
		"10 KB of A":            strings.Repeat("A", 10<<10),
		"10 KB of dollars":      strings.Repeat("$", 10<<10),
	}
	for name, enc := range hostile {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A hasher of its own, so its work counter is this case's.
			h := newTestHasher(t, 1)
			ok, err := h.Verify(context.Background(), enc, "password")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %t, %v; want false, ErrMalformedHash", ok, err)
			}
			if w := h.Work(); w != 0 {
				t.Errorf("refusing the hash cost %d argon2 computations, want 0", w)
			}
			if !h.NeedsRehash(enc) {
				t.Error("NeedsRehash = false for a malformed hash")
			}
		})
	}
}

func TestDecodeHashEmpty(t *testing.T) {
	t.Parallel()
	// Verify treats "" as an unknown user (TestVerifyUnknownUser); as a
	// stored hash it is malformed.
	if _, _, _, err := decodeHash("", storedMemoryKiB); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("decodeHash(\"\") = %v, want ErrMalformedHash", err)
	}
	if !newTestHasher(t, 1).NeedsRehash("") {
		t.Error(`NeedsRehash("") = false`)
	}
}

// TestVerifyHostileAllocatesLittle is not parallel: it reads the
// process's allocation counter.
func TestVerifyHostileAllocatesLittle(t *testing.T) {
	h := newTestHasher(t, 1)
	enc := "$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		if _, err := h.Verify(context.Background(), enc, "password"); err == nil {
			t.Fatal("hostile hash verified without error")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("100 hostile verifications allocated %d bytes, want under 1 MiB", got)
	}
	if h.Work() != 0 {
		t.Errorf("hostile hashes cost %d argon2 computations, want 0", h.Work())
	}
}

func TestVerifyStoredParams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A hash made with other (older) parameters still verifies, and
	// NeedsRehash says so.
	old, err := NewPasswordHasher(PasswordHasherOptions{Params: Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := old.Hash(ctx, "an older passphrase")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHasher(t, 1)
	if ok, err := h.Verify(ctx, enc, "an older passphrase"); !ok || err != nil {
		t.Errorf("Verify of an older hash = %t, %v", ok, err)
	}
	if !h.NeedsRehash(enc) || old.NeedsRehash(enc) {
		t.Error("NeedsRehash does not follow the parameters")
	}
}

func TestNewPasswordHasherParams(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   Argon2Params
		want Argon2Params // zero when an error is wanted
	}{
		"zero is the default":       {Argon2Params{}, DefaultArgon2Params()},
		"zero fields take defaults": {Argon2Params{MemoryKiB: 64}, Argon2Params{Time: 2, MemoryKiB: 64, Threads: 1}},
		"small":                     {fastParams, fastParams},
		"the config maximum":        {Argon2Params{Time: 20, MemoryKiB: 1 << 20, Threads: 16}, Argon2Params{Time: 20, MemoryKiB: 1 << 20, Threads: 16}},
		"time 21":                   {Argon2Params{Time: 21, MemoryKiB: 64, Threads: 1}, Argon2Params{}},
		"memory over 1 GiB":         {Argon2Params{Time: 1, MemoryKiB: 1<<20 + 1, Threads: 1}, Argon2Params{}},
		"threads 17":                {Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 17}, Argon2Params{}},
		"memory under 8 per thread": {Argon2Params{Time: 1, MemoryKiB: 31, Threads: 4}, Argon2Params{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := NewPasswordHasher(PasswordHasherOptions{Params: tt.in})
			if tt.want == (Argon2Params{}) {
				if err == nil {
					t.Errorf("NewPasswordHasher(%+v): no error", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, h.Params()); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if cap(h.sem) != runtime.NumCPU() {
				t.Errorf("MaxConcurrent default = %d, want NumCPU %d", cap(h.sem), runtime.NumCPU())
			}
		})
	}
	if got := DefaultArgon2Params(); got != (Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1}) {
		t.Errorf("DefaultArgon2Params() = %+v, want OWASP's m=19456,t=2,p=1", got)
	}
}

func TestHasherRespectsContext(t *testing.T) {
	t.Parallel()
	h := newTestHasher(t, 1)
	enc, err := h.Hash(context.Background(), "some password here")
	if err != nil {
		t.Fatal(err)
	}
	// A cancelled context fails at once even with a free slot.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(cancelled, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context: %v", err)
	}

	// Hold the only slot: callers wait until their deadline.
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	work := h.Work()
	if _, err := h.Verify(ctx, enc, "some password here"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify with every slot taken: %v, want DeadlineExceeded", err)
	}
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash with every slot taken: %v, want DeadlineExceeded", err)
	}
	// Cancelling while waiting for the slot ends the wait.
	waiting, cancelWait := context.WithCancel(context.Background())
	stop := time.AfterFunc(10*time.Millisecond, cancelWait)
	defer stop.Stop()
	if _, err := h.Verify(waiting, enc, "some password here"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify cancelled while waiting: %v, want Canceled", err)
	}
	if h.Work() != work {
		t.Error("work was done without a slot")
	}

	// Once the slot frees up, a waiting caller goes ahead.
	var wg sync.WaitGroup
	wg.Go(func() {
		ok, err := h.Verify(context.Background(), enc, "some password here")
		if !ok || err != nil {
			t.Errorf("Verify after waiting = %t, %v", ok, err)
		}
	})
	time.Sleep(10 * time.Millisecond)
	<-h.sem
	wg.Wait()
}

// With every one of the MaxConcurrent slots held (as n running argon2
// computations would hold them), a further Verify or Hash waits, gives up
// when its context ends and does no argon2 work; waiters that outlast the
// saturation go through the slot that frees up.
func TestHasherMaxConcurrent(t *testing.T) {
	t.Parallel()
	const password = "some password here"
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			h := newTestHasher(t, n)
			enc, err := h.Hash(context.Background(), password)
			if err != nil {
				t.Fatal(err)
			}
			for range n {
				h.sem <- struct{}{}
			}
			select {
			case h.sem <- struct{}{}:
				t.Fatalf("MaxConcurrent %d has more than %d slots", n, n)
			default:
			}
			work := h.Work()

			const wait = 30 * time.Millisecond
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if _, err := h.Verify(ctx, enc, password); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Verify with all %d slots held: %v, want DeadlineExceeded", n, err)
			}
			if took := time.Since(start); took < wait {
				t.Errorf("Verify gave up after %s, before its context's deadline", took)
			}
			if _, err := h.Hash(ctx, password); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Hash with all %d slots held: %v, want DeadlineExceeded", n, err)
			}
			if got := h.Work(); got != work {
				t.Errorf("%d argon2 computations ran while every slot was held", got-work)
			}

			// Waiters with no deadline block and compute nothing while the
			// slots stay held.
			var done atomic.Int64
			var wg sync.WaitGroup
			for range 2 * n {
				wg.Go(func() {
					if ok, err := h.Verify(context.Background(), enc, password); !ok || err != nil {
						t.Errorf("Verify after waiting = %t, %v", ok, err)
					}
					done.Add(1)
				})
			}
			time.Sleep(50 * time.Millisecond)
			if got, d := h.Work(), done.Load(); got != work || d != 0 {
				t.Errorf("while saturated: %d computations ran and %d waiters finished", got-work, d)
			}
			// One slot frees up: every waiter gets through it in turn.
			<-h.sem
			wg.Wait()
			if got := h.Work(); got != work+int64(2*n) {
				t.Errorf("work %d after the waiters, want %d", got-work, 2*n)
			}
			if len(h.sem) != n-1 {
				t.Errorf("%d slots taken after the waiters, want the %d still held", len(h.sem), n-1)
			}
		})
	}
}
