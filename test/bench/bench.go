package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"stepgate.io/stepgate/test/harness"
)

// Options configure Run. Zero values take the defaults the issue asks for.
type Options struct {
	// Stepgate is the stepgate binary, run for the server and the floor.
	Stepgate string
	// Progress receives progress lines; Table the final table.
	Progress, Table io.Writer
	// JSONPath receives the report as JSON ("" skips it).
	JSONPath  string
	Pods      int           // default 500
	Clients   []int         // default 1, 16, 64
	Duration  time.Duration // per load run, default 2s
	Rounds    int           // interleaved rounds per cell, default 5
	Watches   int           // default 5000
	ExecBytes int64         // default 100 MiB
	// ProfileDir, when set, receives pprof profiles of stepgate: its heap
	// and goroutines while it holds the watches, and its CPU under GET load.
	ProfileDir string
}

func (o *Options) defaults() {
	if o.Pods <= 0 {
		o.Pods = 500
	}
	if len(o.Clients) == 0 {
		o.Clients = []int{1, 16, 64}
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Watches <= 0 {
		o.Watches = 5000
	}
	if o.ExecBytes <= 0 {
		o.ExecBytes = 100 << 20
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Table == nil {
		o.Table = io.Discard
	}
}

// Report is one run's measurements.
type Report struct {
	Machine  Machine       `json:"machine"`
	Latency  []LatencyRow  `json:"latency"`
	Watch    WatchResult   `json:"watch"`
	Exec     ExecResult    `json:"exec"`
	SignIn   SignInResult  `json:"signIn"`
	Micro    []MicroResult `json:"inProcess"`
	Goals    []Goal        `json:"goals"`
	Duration string        `json:"duration"`
}

// Machine says where the numbers come from.
type Machine struct {
	Date       string `json:"date"`
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	Go         string `json:"go"`
	Kubernetes string `json:"kubernetes"`
}

// Run brings up the cluster, seeds it, measures, prints the table and
// writes the JSON.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	start := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(opts.Progress, "bench: "+format+"\n", a...) }
	// The in-process figures come first, on a quiet machine: once the
	// cluster runs, its background work (etcd, the API server, kwok's
	// heartbeats) takes CPU from whatever is measured.
	logf("measuring the hot path in process")
	micro, err := micros()
	if err != nil {
		return nil, err
	}
	tools, err := harness.EnsureTools(ctx, harness.BuildOptions{Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "stepgate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cluster, err := harness.Start(ctx, harness.Options{Tools: tools, Log: opts.Progress})
	if err != nil {
		return nil, err
	}
	defer cluster.Stop()
	e := &env{opts: opts, dir: dir, cluster: cluster}
	defer e.stop()
	logf("seeding %d pods in namespace %s", opts.Pods, benchNS)
	if err := e.seed(ctx, opts.Pods); err != nil {
		return nil, err
	}
	if err := e.prepare(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Machine: machine()}
	paths := e.paths()
	if rep.Latency, err = e.latency(ctx, paths, logf); err != nil {
		return nil, err
	}
	if opts.ProfileDir != "" {
		if err := e.profileCPU(ctx, paths[2], logf); err != nil {
			return nil, err
		}
	}
	logf("opening %d watches through stepgate", opts.Watches)
	if rep.Watch, err = e.watches(ctx, logf); err != nil {
		return nil, err
	}
	logf("streaming %d MiB through exec over WebSocket", opts.ExecBytes>>20)
	if rep.Exec, err = e.execThroughput(ctx); err != nil {
		return nil, err
	}
	logf("measuring sign-in")
	if rep.SignIn, err = e.signInCost(ctx); err != nil {
		return nil, err
	}
	rep.Micro = micro
	rep.Goals = goals(rep)
	rep.Duration = time.Since(start).Round(time.Second).String()
	printTable(opts.Table, rep)
	if opts.JSONPath != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(opts.JSONPath, append(data, '\n'), 0o644); err != nil {
			return rep, err
		}
		logf("wrote %s", opts.JSONPath)
	}
	return rep, nil
}

// prepare starts stepgate, signs the bench user in and starts the floor
// with the same impersonation headers stepgate will send.
func (e *env) prepare(ctx context.Context) error {
	sg, err := e.startStepgate(ctx, "stepgate", "{attemptsPerMinute: 1000000, burst: 1000000}")
	if err != nil {
		return err
	}
	e.sgURL, e.sgPID, e.sgCA, e.sgCfg, e.sgPprof = sg.url, sg.pid, sg.ca, sg.cfg, sg.pprof
	if e.secret, err = e.enrolledUser(ctx, e.sgCfg, e.sgURL, e.sgCA, benchUser); err != nil {
		return err
	}
	info, _, err := e.signIn(ctx, e.sgURL, e.sgCA, benchUser, e.secret)
	if err != nil {
		return err
	}
	e.token = info.Token
	c, err := clientFor(e.sgURL, e.sgCA, e.token)
	if err != nil {
		return err
	}
	if e.session, err = c.Session(ctx); err != nil {
		return err
	}
	e.imp = impersonation(e.session)
	return e.startFloor(ctx)
}

// paths are the three ways to the API server (and the admin baseline).
func (e *env) paths() []*path {
	direct := e.imp.Clone()
	direct.Set("Authorization", "Bearer "+e.cluster.ProxyToken)
	return []*path{
		{name: "direct", url: e.cluster.Server, header: direct, tls: tlsFor(e.cluster.CAData)},
		{name: "floor", url: e.floorURL, header: http.Header{}, tls: tlsFor(e.floorCA), pid: e.floorPID},
		{name: "stepgate", url: e.sgURL, header: http.Header{"Authorization": {"Bearer " + e.token}}, tls: tlsFor(e.sgCA), pid: e.sgPID},
		{name: "direct-admin", url: e.cluster.Server, header: http.Header{"Authorization": {"Bearer " + e.cluster.AdminToken}}, tls: tlsFor(e.cluster.CAData)},
	}
}

func machine() Machine {
	m := Machine{Date: time.Now().UTC().Format(time.RFC3339), Cores: runtime.NumCPU(), Go: runtime.Version(), Kubernetes: harness.KubernetesVersion}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}
