package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// liveMem forces a garbage collection in stepgate (through the heap
// profile's gc parameter) and returns the heap bytes allocated and the
// stack bytes in use right after it, from the runtime.MemStats the text
// profile ends with. With ProfileDir set it also saves the heap and
// goroutine profiles.
func (e *env) liveMem(ctx context.Context) (heap, stack float64, err error) {
	if e.opts.ProfileDir != "" {
		e.profiles++
		if err := e.fetchProfile(ctx, "/debug/pprof/heap?gc=1", fmt.Sprintf("heap-%d.pb.gz", e.profiles), nil); err != nil {
			return 0, 0, err
		}
		if err := e.fetchProfile(ctx, "/debug/pprof/goroutine", fmt.Sprintf("goroutine-%d.pb.gz", e.profiles), nil); err != nil {
			return 0, 0, err
		}
	}
	var text bytes.Buffer
	if err := e.fetchProfile(ctx, "/debug/pprof/heap?gc=1&debug=1", "", &text); err != nil {
		return 0, 0, err
	}
	stats := map[string]float64{}
	for _, l := range strings.Split(text.String(), "\n") {
		// "# HeapAlloc = 154464", "# Stack = 327680 / 327680" (in use / from the OS)
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "# "), " = "); ok && strings.HasPrefix(l, "# ") {
			v, _, _ = strings.Cut(v, " ")
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				stats[k] = f
			}
		}
	}
	heap, okH := stats["HeapAlloc"]
	stack, okS := stats["Stack"]
	if !okH || !okS {
		return 0, 0, fmt.Errorf("pprof heap: no HeapAlloc or Stack in the text profile")
	}
	return heap, stack, nil
}

// profileCPU records stepgate's CPU profile while 16 clients GET one pod
// through it, into ProfileDir/cpu-get.pb.gz.
func (e *env) profileCPU(ctx context.Context, sg *path, logf func(string, ...any)) error {
	const seconds = 8
	logf("profiling stepgate's CPU for %ds under GET load", seconds)
	errc := make(chan error, 1)
	go func() {
		errc <- e.fetchProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), "cpu-get.pb.gz", nil)
	}()
	if _, err := load(ctx, sg, "/api/v1/namespaces/"+benchNS+"/pods/pod-7", 16, (seconds+1)*time.Second); err != nil {
		return err
	}
	return <-errc
}

// fetchProfile GETs a pprof path from stepgate and writes the answer into
// ProfileDir/name, or into to when name is "" (or discards it when to is
// nil too).
func (e *env) fetchProfile(ctx context.Context, path, name string, to io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.sgPprof+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: %s", path, resp.Status)
	}
	if name == "" {
		if to == nil {
			to = io.Discard
		}
		_, err = io.Copy(to, resp.Body)
		return err
	}
	if err := os.MkdirAll(e.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(e.opts.ProfileDir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
