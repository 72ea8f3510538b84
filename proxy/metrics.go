package proxy

import (
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
)

// Metrics counts what the Handler does, for /metrics in the Prometheus
// text format. The counters are plain atomics: no registry, no labels
// beyond the fixed decisions.
type Metrics struct {
	allowed, denied, stepUpRequired, stepUpGranted, refused, unauthenticated atomic.Uint64
	streams                                                                  atomic.Int64
}

func (m *Metrics) count(decision string) {
	if m == nil {
		return
	}
	switch decision {
	case "allow":
		m.allowed.Add(1)
	case "deny":
		m.denied.Add(1)
	case "stepUp.required":
		m.stepUpRequired.Add(1)
	case "stepUp.granted":
		m.stepUpGranted.Add(1)
	case "unauthenticated":
		m.unauthenticated.Add(1)
	default:
		m.refused.Add(1)
	}
}

// ServeHTTP writes the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP stepgate_requests_total Kubernetes API requests by decision.\n# TYPE stepgate_requests_total counter\n")
	for _, c := range []struct {
		name string
		v    uint64
	}{
		{"allow", m.allowed.Load()}, {"deny", m.denied.Load()}, {"stepup_required", m.stepUpRequired.Load()},
		{"stepup_granted", m.stepUpGranted.Load()}, {"refused", m.refused.Load()}, {"unauthenticated", m.unauthenticated.Load()},
	} {
		fmt.Fprintf(w, "stepgate_requests_total{decision=%q} %d\n", c.name, c.v)
	}
	fmt.Fprintf(w, "# HELP stepgate_open_streams Watches, logs -f and upgraded connections open now.\n# TYPE stepgate_open_streams gauge\nstepgate_open_streams %d\n", m.streams.Load())
	fmt.Fprintf(w, "# HELP go_goroutines Goroutines that exist now.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# HELP go_memstats_heap_inuse_bytes Bytes in in-use heap spans.\n# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	fmt.Fprintf(w, "# HELP go_memstats_stack_inuse_bytes Bytes in stack spans.\n# TYPE go_memstats_stack_inuse_bytes gauge\ngo_memstats_stack_inuse_bytes %d\n", ms.StackInuse)
}
