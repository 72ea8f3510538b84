package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Throttle is a token bucket per source address, for sign-in and every
// endpoint that checks a code (NIST SP 800-63B asks for rate limiting on
// top of lockout). Its memory is bounded: past maxSources addresses it
// forgets buckets that have refilled, and if every bucket is busy it
// refuses new sources until some refill, rather than growing.
type Throttle struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxSources = 100_000

// NewThrottle allows perMinute attempts a minute per source, burst at once.
func NewThrottle(perMinute, burst int, now func() time.Time) *Throttle {
	if perMinute <= 0 {
		perMinute = 30
	}
	if burst <= 0 {
		burst = 10
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{rate: float64(perMinute) / 60, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Allow takes one attempt from key's bucket. When it is empty it reports
// false and how long until the next attempt would be allowed.
func (t *Throttle) Allow(key string) (time.Duration, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buckets[key]
	if b == nil {
		if len(t.buckets) >= maxSources && !t.sweepLocked(now) {
			return time.Second, false
		}
		b = &bucket{tokens: t.burst, at: now}
		t.buckets[key] = b
	}
	b.tokens = min(t.burst, b.tokens+now.Sub(b.at).Seconds()*t.rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / t.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// sweepLocked forgets buckets that are full again and reports whether it
// made room.
func (t *Throttle) sweepLocked(now time.Time) bool {
	for k, b := range t.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*t.rate >= t.burst {
			delete(t.buckets, k)
		}
	}
	return len(t.buckets) < maxSources
}

// sourceKey buckets a client by address: an IPv4 address, or the /64 of
// an IPv6 one (one host usually holds a whole /64).
func sourceKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
