package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// SignInResult is what signing in costs and how the throttle paces it.
type SignInResult struct {
	// P50ms is one password + TOTP sign-in (argon2id with the default
	// parameters dominates).
	P50ms   float64 `json:"p50Ms"`
	Samples int     `json:"samples"`
	// CapacityPerSec is sign-ins per second the server completes with the
	// throttle out of the way: the bound set by maxConcurrentHashes.
	CapacityPerSec float64 `json:"capacityPerSec"`
	// ThrottleAdmittedPerSec is what the default throttle (30/min, burst
	// 10) lets through from one address over ThrottleWindow.
	ThrottleAdmittedPerSec float64 `json:"throttleAdmittedPerSec"`
	ThrottleAttempts       int     `json:"throttleAttempts"`
	ThrottleAdmitted       int     `json:"throttleAdmitted"`
	ThrottleWindow         string  `json:"throttleWindow"`
}

func (e *env) signInCost(ctx context.Context) (SignInResult, error) {
	var res SignInResult
	var lat []time.Duration
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("signin-%d", i)
		secret, err := e.enrolledUser(ctx, e.sgCfg, e.sgURL, e.sgCA, name)
		if err != nil {
			return res, err
		}
		_, d, err := e.signIn(ctx, e.sgURL, e.sgCA, name, secret)
		if err != nil {
			return res, err
		}
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.Samples, res.P50ms = len(lat), float64(lat[len(lat)/2].Microseconds())/1000

	sg := e.paths()[2]
	done, _, d := hammer(ctx, sg, 8, 3*time.Second)
	res.CapacityPerSec = float64(done) / d.Seconds()

	throttled, err := e.startStepgate(ctx, "throttled", "{attemptsPerMinute: 30, burst: 10}")
	if err != nil {
		return res, err
	}
	window := 10 * time.Second
	tp := &path{name: "throttled", url: throttled.url, tls: tlsFor(throttled.ca)}
	attempts, admitted, d2 := hammer(ctx, tp, 4, window)
	res.ThrottleAttempts, res.ThrottleAdmitted, res.ThrottleWindow = attempts, admitted, window.String()
	res.ThrottleAdmittedPerSec = float64(admitted) / d2.Seconds()
	return res, nil
}

// hammer posts wrong-password sign-ins from clients goroutines for d and
// counts completed answers and those that were not 429.
func hammer(ctx context.Context, p *path, clients int, d time.Duration) (completed, admitted int, elapsed time.Duration) {
	var done, ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	body := []byte(`{"username":"bench","password":"wrong password entirely","code":"000000"}`)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := p.newClient()
			for time.Since(start) < d && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/stepgate/v1/login", bytes.NewReader(body))
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				done.Add(1)
				if resp.StatusCode != http.StatusTooManyRequests {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), int(ok.Load()), time.Since(start)
}
