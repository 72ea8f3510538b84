package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"stepgate.io/stepgate/web"
)

// WatchResult is what holding many idle watches costs a proxy.
type WatchResult struct {
	Watches            int     `json:"watches"`
	Established        int     `json:"established"`
	RSSPerWatchKiB     float64 `json:"rssPerWatchKiB"`
	GoroutinesPerWatch float64 `json:"goroutinesPerWatch"`
	HeapPerWatchKiB    float64 `json:"heapPerWatchKiB"`
	// LiveHeapPerWatchKiB is the heap in use after a forced collection:
	// what the watches keep, without the garbage left from opening them.
	LiveHeapPerWatchKiB float64 `json:"liveHeapPerWatchKiB"`
	// LiveStackPerWatchKiB is the goroutine stack in use after that
	// collection (which also shrinks stacks grown while opening them).
	LiveStackPerWatchKiB float64 `json:"liveStackPerWatchKiB"`
	StackPerWatchKiB     float64 `json:"stackPerWatchKiB"`
	// FloorRSSPerWatchKiB is the bare proxy's cost, for comparison.
	FloorRSSPerWatchKiB float64 `json:"floorRSSPerWatchKiB"`
}

func clientFor(u string, ca []byte, token string) (*web.Client, error) {
	c, err := web.NewClient(u, ca)
	if err != nil {
		return nil, err
	}
	return c.WithToken(token), nil
}

// metrics reads stepgate's /metrics gauges.
func metrics(ctx context.Context, p *path) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/metrics", nil)
	resp, err := p.newClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			v, _ := strconv.ParseFloat(f[1], 64)
			out[f[0]] = v
		}
	}
	return out, sc.Err()
}

// openWatches opens n watches on single pods through p and keeps them
// until release is called. It returns how many the server accepted.
func openWatches(ctx context.Context, p *path, n, pods int, rv string) (int, func(), error) {
	wctx, cancel := context.WithCancel(ctx)
	tr := &http.Transport{TLSClientConfig: p.tls.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	var ok atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	var bodies sync.Map
	sem := make(chan struct{}, 64)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			q := url.Values{"watch": {"true"}, "resourceVersion": {rv}, "timeoutSeconds": {"1800"},
				"fieldSelector": {fmt.Sprintf("metadata.name=pod-%d", i%pods)}}
			req, _ := http.NewRequestWithContext(wctx, http.MethodGet, p.url+"/api/v1/namespaces/"+benchNS+"/pods?"+q.Encode(), nil)
			for k, v := range p.header {
				req.Header[k] = v
			}
			resp, err := c.Do(req)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				firstErr.CompareAndSwap(nil, fmt.Errorf("watch: %d", resp.StatusCode))
				return
			}
			bodies.Store(i, resp.Body)
			ok.Add(1)
		}(i)
	}
	wg.Wait()
	release := func() {
		cancel()
		bodies.Range(func(_, b any) bool { b.(interface{ Close() error }).Close(); return true })
		tr.CloseIdleConnections()
	}
	if err, _ := firstErr.Load().(error); err != nil && ok.Load() == 0 {
		release()
		return 0, nil, err
	}
	return int(ok.Load()), release, nil
}

func (e *env) watches(ctx context.Context, logf func(string, ...any)) (WatchResult, error) {
	res := WatchResult{Watches: e.opts.Watches}
	paths := e.paths()
	rv, err := e.resourceVersion(ctx)
	if err != nil {
		return res, err
	}
	sg := paths[2]
	heap0, stack0, err := e.liveMem(ctx)
	if err != nil {
		return res, err
	}
	before, err := metrics(ctx, sg)
	if err != nil {
		return res, err
	}
	rss0, _ := rssKiB(e.sgPID)
	n, release, err := openWatches(ctx, sg, e.opts.Watches, e.opts.Pods, rv)
	if err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second) // let buffers settle
	after, err := metrics(ctx, sg)
	rss1, _ := rssKiB(e.sgPID)
	if err != nil {
		release()
		return res, err
	}
	// A forced collection tells live memory from the garbage that opening
	// the watches left behind (idle watches allocate nothing, so no GC
	// would run on its own for minutes).
	heap1, stack1, err := e.liveMem(ctx)
	release()
	if err != nil {
		return res, err
	}
	res.Established = n
	if n > 0 {
		res.RSSPerWatchKiB = float64(rss1-rss0) / float64(n)
		res.GoroutinesPerWatch = (after["go_goroutines"] - before["go_goroutines"]) / float64(n)
		res.HeapPerWatchKiB = (after["go_memstats_heap_inuse_bytes"] - before["go_memstats_heap_inuse_bytes"]) / 1024 / float64(n)
		res.StackPerWatchKiB = (after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]) / 1024 / float64(n)
		res.LiveHeapPerWatchKiB = (heap1 - heap0) / 1024 / float64(n)
		res.LiveStackPerWatchKiB = (stack1 - stack0) / 1024 / float64(n)
	}
	logf("stepgate held %d watches: %.1f KiB RSS and %.2f goroutines each", n, res.RSSPerWatchKiB, res.GoroutinesPerWatch)
	time.Sleep(time.Second)
	frss0, _ := rssKiB(e.floorPID)
	fn, frelease, err := openWatches(ctx, paths[1], e.opts.Watches, e.opts.Pods, rv)
	if err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second)
	frss1, _ := rssKiB(e.floorPID)
	frelease()
	if fn > 0 {
		res.FloorRSSPerWatchKiB = float64(frss1-frss0) / float64(fn)
	}
	return res, nil
}

// resourceVersion lists the namespace once for a current resourceVersion.
func (e *env) resourceVersion(ctx context.Context) (string, error) {
	p := e.paths()[3]
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/namespaces/"+benchNS+"/pods?limit=1", nil)
	for k, v := range p.header {
		req.Header[k] = v
	}
	resp, err := p.newClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", err
	}
	return list.Metadata.ResourceVersion, nil
}
