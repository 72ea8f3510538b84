package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"stepgate.io/stepgate/test/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "floor" {
		return benchFloor(ctx, e, args[1:])
	}
	fs := newFlags(e, "bench", "bench [--json FILE] [--quick]",
		"Measures what stepgate costs against a local API server in one run: GET and LIST through three paths\n"+
			"(straight to the API server, a bare reverse proxy, stepgate with a signed-in session and 50 rules) at\n"+
			"several concurrencies, interleaved; idle watches held by stepgate; exec throughput; sign-in cost and\n"+
			"throttle; and the hot path in process. Prints a table with ratios and the goals met or missed.")
	jsonPath := fs.String("json", "bench-result.json", "write the report as JSON here (\"\" to skip)")
	quick := fs.Bool("quick", false, "shorter runs and fewer watches, for a smoke test (numbers are noisier)")
	duration := fs.Duration("duration", 2*time.Second, "length of each load run")
	rounds := fs.Int("rounds", 5, "interleaved rounds per cell")
	watches := fs.Int("watches", 5000, "idle watches to open through stepgate")
	profile := fs.String("profile", "", "save pprof profiles of stepgate here (heap and goroutines while it holds the watches, CPU under GET load)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	opts := bench.Options{Stepgate: self, Progress: e.stderr, Table: e.stdout, JSONPath: *jsonPath,
		Duration: *duration, Rounds: *rounds, Watches: *watches, ProfileDir: *profile}
	if *quick {
		opts.Duration, opts.Rounds, opts.Watches, opts.ExecBytes = 500*time.Millisecond, 1, 500, 16<<20
	}
	_, err = bench.Run(ctx, opts)
	return err
}

// benchFloor runs the bare proxy the benchmark compares against.
func benchFloor(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "bench floor", "bench floor --listen ADDR --kubeconfig FILE --cert FILE --key FILE [--header 'K: V']...",
		"Runs the benchmark's floor: a bare reverse proxy with a static credential and headers. Used by stepgate bench.")
	listen := fs.String("listen", "127.0.0.1:0", "address")
	kubeconfig := fs.String("kubeconfig", "", "upstream credentials")
	cert := fs.String("cert", "", "serving certificate")
	key := fs.String("key", "", "serving key")
	headers := http.Header{}
	fs.Func("header", "header to set on every request, 'Name: value' (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, ":")
		if !ok {
			return fmt.Errorf("want 'Name: value'")
		}
		headers[strings.TrimSpace(k)] = append(headers[strings.TrimSpace(k)], strings.TrimSpace(val))
		return nil
	})
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return bench.RunFloor(ctx, bench.FloorOptions{Listen: *listen, Kubeconfig: *kubeconfig, CertFile: *cert, KeyFile: *key, Headers: headers})
}
