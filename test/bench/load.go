package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// path is one way to reach the API server.
type path struct {
	name   string
	url    string
	header http.Header
	tls    *tls.Config
	pid    int // the proxy process whose CPU is measured (0: none)
}

// newClient gives each simulated client its own HTTP/2 connection, as
// separate kubectl processes would have.
func (p *path) newClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: p.tls.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4,
	}}
}

// sample is what one load run of one path measured.
type sample struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
	cpuTicks  int64
}

// load runs clients concurrent loops of GET reqPath against p for d.
func load(ctx context.Context, p *path, reqPath string, clients int, d time.Duration) (*sample, error) {
	cpu0, err := cpuTicks(p.pid)
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		out = &sample{}
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := p.newClient()
			defer c.CloseIdleConnections()
			var lat []time.Duration
			errs := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := get(ctx, c, p, reqPath); err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			out.latencies = append(out.latencies, lat...)
			out.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	cpu1, err := cpuTicks(p.pid)
	if err != nil {
		return nil, err
	}
	out.cpuTicks = cpu1 - cpu0
	return out, ctx.Err()
}

func get(ctx context.Context, c *http.Client, p *path, reqPath string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+reqPath, nil)
	if err != nil {
		return err
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d", p.name, reqPath, resp.StatusCode)
	}
	return nil
}

// cpuTicks reads utime+stime of pid in clock ticks (1/100 s on Linux).
func cpuTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields count from the ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu of %d: short stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu of %d: bad stat", pid)
	}
	return u + st, nil
}

// rssKiB reads a process's resident set size.
func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// Stats summarizes merged samples of one path at one load.
type Stats struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50Ms"`
	P99ms    float64 `json:"p99Ms"`
	// CPUms is the proxy process's CPU per request (0 for direct).
	CPUms float64 `json:"cpuMsPerRequest,omitempty"`
}

func summarize(samples []*sample) Stats {
	var all []time.Duration
	var elapsed time.Duration
	var st Stats
	var ticks int64
	for _, s := range samples {
		all = append(all, s.latencies...)
		elapsed += s.elapsed
		st.Errors += s.errors
		ticks += s.cpuTicks
	}
	st.Requests = len(all)
	if len(all) == 0 {
		return st
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	st.P50ms = ms(all[len(all)/2])
	st.P99ms = ms(all[min(len(all)-1, len(all)*99/100)])
	st.RPS = float64(len(all)) / elapsed.Seconds()
	st.CPUms = float64(ticks) * 10 / float64(len(all))
	return st
}
