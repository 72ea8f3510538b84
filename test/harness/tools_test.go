package harness

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testBuilder(t *testing.T, goCmd string) (*builder, *syncBuffer) {
	t.Helper()
	var progress syncBuffer
	dir := t.TempDir()
	b := &builder{opts: BuildOptions{CacheDir: dir, Progress: &progress, Go: goCmd}, bin: filepath.Join(dir, "bin"), heartbeat: 50 * time.Millisecond}
	if err := os.MkdirAll(b.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return b, &progress
}

// TestEnsureBuildsOnce runs two ensures of the same tool at once: one
// builds, the other waits for the lock and takes the result.
func TestEnsureBuildsOnce(t *testing.T) {
	t.Parallel()
	b, progress := testBuilder(t, "go")
	out := b.binPath("fake", "v1")
	var builds atomic.Int32
	build := func(ctx context.Context, work, tmp string) error {
		builds.Add(1)
		if st, err := os.Stat(work); err != nil || !st.IsDir() {
			t.Errorf("work dir %s: %v", work, err)
		}
		time.Sleep(300 * time.Millisecond)
		return os.WriteFile(tmp, []byte("#!/bin/sh\n"), 0o755)
	}
	var wg sync.WaitGroup
	paths := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { paths[i], errs[i] = b.ensure(t.Context(), "fake", "v1", out, "a moment", build) })
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || paths[i] != out {
			t.Errorf("ensure %d = %q, %v; want %q", i, paths[i], errs[i], out)
		}
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want once", n)
	}
	if _, err := os.Stat(out + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	for _, want := range []string{"building fake v1 (cold: a moment", "built fake v1 in "} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress %q lacks %q", progress, want)
		}
	}
	// Cached now: no build at all.
	if _, err := b.ensure(t.Context(), "fake", "v1", out, "a moment", build); err != nil || builds.Load() != 1 {
		t.Errorf("ensure of a cached tool: %v, %d builds", err, builds.Load())
	}
}

// TestEnsureFailureLeavesNothing wants a failed build to leave no binary
// and no temporary file, and to say it failed.
func TestEnsureFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	b, progress := testBuilder(t, "go")
	out := b.binPath("broken", "v1")
	_, err := b.ensure(t.Context(), "broken", "v1", out, "a moment", func(ctx context.Context, work, tmp string) error {
		_ = os.WriteFile(tmp, []byte("half"), 0o755)
		return errors.New("compiler exploded")
	})
	if err == nil || !strings.Contains(err.Error(), "compiler exploded") {
		t.Fatalf("ensure = %v, want the build's error", err)
	}
	for _, p := range []string{out, out + ".tmp"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	if !strings.Contains(progress.String(), "building broken v1 failed after") {
		t.Errorf("progress %q does not report the failure", progress)
	}
}

// TestRunGoHeartbeatAndTail runs a fake go that prints package paths
// slowly and then fails: the heartbeat counts the packages and the error
// ends with the last lines of the output.
func TestRunGoHeartbeatAndTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeGo := filepath.Join(dir, "go")
	script := "#!/bin/sh\nfor i in $(seq 1 100); do echo example.com/pkg$i; done\n" +
		"echo 'go: downloading example.com/mod v1.0.0' >&2\nsleep 0.3\necho 'pkg/x.go:1: it broke' >&2\nexit 3\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	b, progress := testBuilder(t, fakeGo)
	err := b.runGo(t.Context(), dir, "building fake", "build", "-v")
	if err == nil {
		t.Fatal("runGo of a failing go succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"go build -v: exit status 3", "example.com/pkg100\n", "pkg/x.go:1: it broke"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "example.com/pkg1\n") {
		t.Errorf("error %q carries more than the tail", msg)
	}
	if p := progress.String(); !strings.Contains(p, "building fake: ") || !strings.Contains(p, "100 packages compiled, 1 modules downloaded") {
		t.Errorf("heartbeat %q lacks the counts", p)
	}
}
