package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Goal is one target from the issue or the design card, and whether this
// run met it. Goals are reported, never asserted.
type Goal struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Met      bool    `json:"met"`
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func goals(r *Report) []Goal {
	var gs []Goal
	add := func(name, target string, v float64, met bool, format string, a ...any) {
		gs = append(gs, Goal{Name: name, Target: target, Value: v, Met: met, Measured: fmt.Sprintf(format, a...)})
	}
	worst := func(f func(LatencyRow) float64, lower bool) (float64, string) {
		var v float64
		var where string
		for i, row := range r.Latency {
			x := f(row)
			if i == 0 || (lower && x < v) || (!lower && x > v) {
				v, where = x, fmt.Sprintf("%s, %d clients", row.Op, row.Clients)
			}
		}
		return v, where
	}
	v, at := worst(func(x LatencyRow) float64 { return ratio(x.Stepgate.RPS, x.Direct.RPS) }, true)
	add("throughput vs direct", ">= 0.95", v, v >= 0.95, "worst %.2f (%s)", v, at)
	v, at = worst(func(x LatencyRow) float64 { return ratio(x.Stepgate.RPS, x.Floor.RPS) }, true)
	add("throughput vs floor", ">= 0.90", v, v >= 0.9, "worst %.2f (%s)", v, at)
	v, at = worst(func(x LatencyRow) float64 { return ratio(x.Stepgate.CPUms, x.Floor.CPUms) }, false)
	add("proxy CPU per request vs floor", "<= 1.30", v, v <= 1.3, "worst %.2f (%s)", v, at)
	// one is the worst (largest) figure over the 1-client rows; it may be
	// negative when stepgate was faster than its baseline in every row.
	one := func(f func(LatencyRow) float64) (float64, string) {
		var v float64
		where := ""
		for _, row := range r.Latency {
			if row.Clients == 1 && (where == "" || f(row) > v) {
				v, where = f(row), row.Op
			}
		}
		return v, where
	}
	v, at = one(func(x LatencyRow) float64 { return x.Stepgate.P50ms - x.Direct.P50ms })
	add("added p50 at 1 client vs direct", "<= 0.3 ms", v, v <= 0.3, "%.3f ms (%s)", v, at)
	v, at = one(func(x LatencyRow) float64 { return x.Stepgate.P50ms - x.Floor.P50ms })
	add("added p50 at 1 client vs floor", "<= 0.3 ms", v, v <= 0.3, "%.3f ms (%s)", v, at)
	v, at = one(func(x LatencyRow) float64 { return x.Stepgate.P99ms - x.Direct.P99ms })
	add("added p99 at 1 client vs direct", "<= 1 ms", v, v <= 1, "%.3f ms (%s)", v, at)
	add("memory per idle watch", "<= 16 KiB", r.Watch.RSSPerWatchKiB, r.Watch.RSSPerWatchKiB <= 16,
		"%.1f KiB RSS (%d watches; floor %.1f KiB)", r.Watch.RSSPerWatchKiB, r.Watch.Established, r.Watch.FloorRSSPerWatchKiB)
	v = ratio(r.Exec.StepgateMiBps, r.Exec.DirectMiBps)
	add("exec throughput vs direct", ">= 0.95", v, v >= 0.95, "%.2f (%.0f vs %.0f MiB/s; floor %.2f of direct)", v,
		r.Exec.StepgateMiBps, r.Exec.DirectMiBps, ratio(r.Exec.FloorMiBps, r.Exec.DirectMiBps))
	v = ratio(r.Exec.StepgateMiBps, r.Exec.FloorMiBps)
	add("exec throughput vs floor", ">= 0.90", v, v >= 0.9, "%.2f (%.0f vs %.0f MiB/s)", v, r.Exec.StepgateMiBps, r.Exec.FloorMiBps)
	for _, m := range r.Micro {
		switch m.Name {
		case "rule decision, 200 rules":
			add("rule decision at 200 rules", "<= 1 µs, 0 allocs", m.NsPerOp, m.NsPerOp <= 1000 && m.AllocsPerOp == 0, "%.0f ns, %d allocs", m.NsPerOp, m.AllocsPerOp)
		case "cached session check":
			add("cached session check", "<= 200 ns", m.NsPerOp, m.NsPerOp <= 200, "%.0f ns, %d allocs", m.NsPerOp, m.AllocsPerOp)
		}
	}
	return gs
}

func printTable(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "\nstepgate bench — %s, %s (%d cores), %s, Kubernetes %s, run took %s\n", m.Date, m.CPU, m.Cores, m.Go, m.Kubernetes, r.Duration)
	fmt.Fprintln(w, "direct and floor send the API server the same impersonation headers as stepgate; floor = bare httputil.ReverseProxy")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tclients\trps direct\trps floor\trps stepgate\tsg/direct\tsg/floor\tp50 ms d/f/s\tp99 ms d/f/s\tCPU ms/req f/s\trps admin token\t")
	for _, x := range r.Latency {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f/%.2f/%.2f\t%.2f/%.2f/%.2f\t%.3f/%.3f\t%.0f\t\n", x.Op, x.Clients,
			x.Direct.RPS, x.Floor.RPS, x.Stepgate.RPS, ratio(x.Stepgate.RPS, x.Direct.RPS), ratio(x.Stepgate.RPS, x.Floor.RPS),
			x.Direct.P50ms, x.Floor.P50ms, x.Stepgate.P50ms, x.Direct.P99ms, x.Floor.P99ms, x.Stepgate.P99ms,
			x.Floor.CPUms, x.Stepgate.CPUms, x.DirectAdmin.RPS)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nwatches: %d idle watches held by stepgate: %.1f KiB RSS, %.2f goroutines, %.1f KiB heap and %.1f KiB stack in use each "+
		"(after a forced GC: %.1f KiB heap, %.1f KiB stack); floor: %.1f KiB RSS each\n",
		r.Watch.Established, r.Watch.RSSPerWatchKiB, r.Watch.GoroutinesPerWatch, r.Watch.HeapPerWatchKiB, r.Watch.StackPerWatchKiB,
		r.Watch.LiveHeapPerWatchKiB, r.Watch.LiveStackPerWatchKiB, r.Watch.FloorRSSPerWatchKiB)
	fmt.Fprintf(w, "exec (WebSocket, %d MiB stdout, %d rounds): direct %.0f MiB/s, floor %.0f MiB/s, stepgate %.0f MiB/s; sg/direct %.2f, sg/floor %.2f\n",
		r.Exec.Bytes>>20, r.Exec.Rounds, r.Exec.DirectMiBps, r.Exec.FloorMiBps, r.Exec.StepgateMiBps,
		ratio(r.Exec.StepgateMiBps, r.Exec.DirectMiBps), ratio(r.Exec.StepgateMiBps, r.Exec.FloorMiBps))
	s := r.SignIn
	fmt.Fprintf(w, "sign-in: %.1f ms p50 for password + TOTP (%d samples); %.1f sign-ins/s with the throttle out of the way; "+
		"the default throttle admitted %d of %d attempts from one address in %s (%.2f/s)\n",
		s.P50ms, s.Samples, s.CapacityPerSec, s.ThrottleAdmitted, s.ThrottleAttempts, s.ThrottleWindow, s.ThrottleAdmittedPerSec)
	fmt.Fprintln(w, "\nin-process:")
	for _, x := range r.Micro {
		fmt.Fprintf(w, "  %-28s %8.0f ns/op %4d allocs/op %6d B/op\n", x.Name, x.NsPerOp, x.AllocsPerOp, x.BytesPerOp)
	}
	fmt.Fprintln(w, "\ngoals (reported, not asserted):")
	for _, g := range r.Goals {
		mark := "MISSED"
		if g.Met {
			mark = "met   "
		}
		fmt.Fprintf(w, "  %s %-34s target %-18s measured %s\n", mark, g.Name, g.Target, g.Measured)
	}
}
