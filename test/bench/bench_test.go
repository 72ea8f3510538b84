package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSmallRunMeasuresEveryPath runs the whole benchmark at a tiny size,
// so that `make bench` cannot rot unnoticed between the runs that feed
// docs/performance.md. It checks that every figure was measured, never
// how fast anything was: this machine is shared and noisy.
func TestSmallRunMeasuresEveryPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "stepgate")
	build := exec.Command("go", "build", "-o", bin, "stepgate.io/stepgate/cmd/stepgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build stepgate: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var table, progress bytes.Buffer
	jsonPath := filepath.Join(dir, "bench.json")
	rep, err := Run(ctx, Options{
		Stepgate: bin, Progress: &progress, Table: &table, JSONPath: jsonPath,
		Pods: 20, Clients: []int{1, 4}, Duration: 200 * time.Millisecond, Rounds: 1, Watches: 20, ExecBytes: 1 << 20,
	})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, progress.String())
	}
	if len(rep.Latency) != 4 {
		t.Errorf("%d latency rows, want 2 operations x 2 concurrencies", len(rep.Latency))
	}
	for _, row := range rep.Latency {
		for name, st := range map[string]Stats{"direct": row.Direct, "floor": row.Floor, "stepgate": row.Stepgate, "admin": row.DirectAdmin} {
			if st.Requests == 0 || st.Errors != 0 || st.RPS <= 0 || st.P50ms <= 0 || st.P99ms < st.P50ms {
				t.Errorf("%s, %d clients, %s: %+v", row.Op, row.Clients, name, st)
			}
		}
		if row.Floor.CPUms <= 0 || row.Stepgate.CPUms <= 0 {
			t.Errorf("%s, %d clients: proxy CPU per request not measured: floor %v, stepgate %v", row.Op, row.Clients, row.Floor.CPUms, row.Stepgate.CPUms)
		}
	}
	if rep.Watch.Established != 20 || rep.Watch.GoroutinesPerWatch <= 0 {
		t.Errorf("watches: %+v", rep.Watch)
	}
	if rep.Exec.DirectMiBps <= 0 || rep.Exec.FloorMiBps <= 0 || rep.Exec.StepgateMiBps <= 0 {
		t.Errorf("exec: %+v", rep.Exec)
	}
	if rep.SignIn.P50ms <= 0 || rep.SignIn.ThrottleAdmitted <= 0 || rep.SignIn.ThrottleAdmitted >= rep.SignIn.ThrottleAttempts {
		t.Errorf("sign-in: %+v", rep.SignIn)
	}
	if len(rep.Micro) != 4 || len(rep.Goals) == 0 {
		t.Errorf("in-process results %d, goals %d", len(rep.Micro), len(rep.Goals))
	}
	for _, want := range []string{"GET one pod", "LIST 20 pods", "watches:", "exec (WebSocket", "sign-in:", "goals (reported, not asserted)"} {
		if !bytes.Contains(table.Bytes(), []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || len(back.Latency) != len(rep.Latency) {
		t.Errorf("JSON report: %v (%d rows)", err, len(back.Latency))
	}
}
