package bench

import (
	"context"
	"fmt"
	"time"
)

// LatencyRow is one operation at one concurrency on every path.
type LatencyRow struct {
	Op          string `json:"op"`
	Clients     int    `json:"clients"`
	Direct      Stats  `json:"direct"`
	Floor       Stats  `json:"floor"`
	Stepgate    Stats  `json:"stepgate"`
	DirectAdmin Stats  `json:"directAdmin"`
}

type op struct{ name, path string }

func (e *env) latency(ctx context.Context, paths []*path, logf func(string, ...any)) ([]LatencyRow, error) {
	ops := []op{
		{"GET one pod", "/api/v1/namespaces/" + benchNS + "/pods/pod-7"},
		{fmt.Sprintf("LIST %d pods", e.opts.Pods), "/api/v1/namespaces/" + benchNS + "/pods"},
	}
	// Warm every path's connections and caches first.
	for _, p := range paths {
		if _, err := load(ctx, p, ops[0].path, 4, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	var rows []LatencyRow
	for _, o := range ops {
		for _, clients := range e.opts.Clients {
			logf("%s with %d clients: %d rounds of %s per path", o.name, clients, e.opts.Rounds, e.opts.Duration)
			samples := make([][]*sample, len(paths))
			for round := 0; round < e.opts.Rounds; round++ {
				// Rotate the order each round so no path always goes first.
				for k := range paths {
					i := (k + round) % len(paths)
					s, err := load(ctx, paths[i], o.path, clients, e.opts.Duration)
					if err != nil {
						return nil, err
					}
					if s.errors > 0 {
						return nil, fmt.Errorf("%s %s: %d errors", paths[i].name, o.name, s.errors)
					}
					samples[i] = append(samples[i], s)
				}
			}
			rows = append(rows, LatencyRow{Op: o.name, Clients: clients, Direct: summarize(samples[0]), Floor: summarize(samples[1]),
				Stepgate: summarize(samples[2]), DirectAdmin: summarize(samples[3])})
		}
	}
	return rows, nil
}
