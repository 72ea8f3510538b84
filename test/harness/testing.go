package harness

import (
	"context"
	"os"
	"strings"
	"time"
)

// TB is the part of testing.TB that StartForTest uses; *testing.T and
// *testing.B satisfy it. The package does not import testing because the
// stepgate binary links it for `stepgate demo`.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// startForTestTimeout bounds the cluster's start (not the tool builds) in
// StartForTest.
const startForTestTimeout = 3 * time.Minute

// StartForTest ensures the tools (build progress goes to stderr, where go
// test shows it while it runs), starts a cluster with opts, and stops it
// when the test and its subtests end. A tool that cannot be built or a
// cluster that does not start fails the test: end-to-end tests never skip.
// An empty opts.Dir means a new dir from t.TempDir.
func StartForTest(t TB, opts Options) *Cluster {
	t.Helper()
	if opts.Tools == nil {
		tools, err := EnsureTools(context.Background(), BuildOptions{Progress: os.Stderr})
		if err != nil {
			t.Fatalf("harness: the cluster's binaries cannot be built (run `go run ./test/harness/buildtools` to see why): %v", err)
		}
		opts.Tools = tools
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Log == nil {
		opts.Log = logWriter{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startForTestTimeout)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("harness: start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// logWriter writes progress lines to a test's log.
type logWriter struct{ t TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
