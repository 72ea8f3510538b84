package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Versions of the components the harness builds.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.6.6"
	KwokVersion       = "v0.8.0"
)

// Tools are the paths of the built binaries.
type Tools struct {
	KubeAPIServer string
	Kubectl       string
	Etcd          string
	Kwok          string
	// KwokStages holds the kwok "fast" node and pod stage YAMLs.
	KwokStages string
}

// BuildOptions configure EnsureTools.
type BuildOptions struct {
	// CacheDir holds the binaries; default $STEPGATE_CACHE_DIR or the user
	// cache dir's "stepgate".
	CacheDir string
	// Progress receives build progress; nil discards it.
	Progress io.Writer
	// Go is the go command; default "go" from PATH.
	Go string
}

// CacheDir returns where built binaries are kept.
func CacheDir() (string, error) {
	if d := os.Getenv("STEPGATE_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache dir (set STEPGATE_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "stepgate"), nil
}

// EnsureTools returns the cached binaries, building the missing ones.
func EnsureTools(ctx context.Context, opts BuildOptions) (*Tools, error) {
	if opts.CacheDir == "" {
		d, err := CacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	b := &builder{opts: opts, bin: filepath.Join(opts.CacheDir, "bin")}
	if err := os.MkdirAll(b.bin, 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	t := &Tools{}
	var err error
	if t.KubeAPIServer, err = b.ensure(ctx, "kube-apiserver", KubernetesVersion, "about 10 minutes", b.buildKubernetes); err != nil {
		return nil, err
	}
	if t.Kubectl, err = b.ensure(ctx, "kubectl", KubernetesVersion, "a few minutes", b.buildKubernetes); err != nil {
		return nil, err
	}
	if t.Etcd, err = b.ensure(ctx, "etcd", EtcdVersion, "about 2 minutes", b.buildEtcd); err != nil {
		return nil, err
	}
	if t.Kwok, err = b.ensure(ctx, "kwok", KwokVersion+"-stdin-eof", "about 2 minutes", b.buildKwok); err != nil {
		return nil, err
	}
	if t.KwokStages, err = b.kwokStages(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

type builder struct {
	opts BuildOptions
	bin  string
}

// target is where a tool of a version lives in the cache.
func (b *builder) target(name, version string) string {
	return filepath.Join(b.bin, fmt.Sprintf("%s-%s-%s-%s", name, version, runtime.GOOS, runtime.GOARCH))
}

// ensure returns the cached binary or builds it under an exclusive file
// lock, so concurrent test binaries build each tool once.
func (b *builder) ensure(ctx context.Context, name, version, cold string, build func(ctx context.Context, name, out string) error) (string, error) {
	out := b.target(name, version)
	if isExecutable(out) {
		return out, nil
	}
	unlock, err := lockFile(ctx, out+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(out) { // built by another process while we waited
		return out, nil
	}
	start := time.Now()
	fmt.Fprintf(b.opts.Progress, "harness: building %s %s (cold: %s; cached afterwards in %s)\n", name, version, cold, b.bin)
	tmp := out + ".tmp"
	if err := build(ctx, name, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	fmt.Fprintf(b.opts.Progress, "harness: built %s %s in %s\n", name, version, time.Since(start).Round(time.Second))
	return out, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock on path, waiting while ctx allows.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// goCmd runs the go command in dir, streaming a heartbeat with the count
// of packages compiled (from -v) to the progress writer. On failure the
// error carries the tail of go's output.
func (b *builder) goCmd(ctx context.Context, dir, label string, args ...string) error {
	return b.goCmdEnv(ctx, dir, label, nil, args...)
}

func (b *builder) goCmdEnv(ctx context.Context, dir, label string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, b.opts.Go, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GO111MODULE=on"), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail tailBuffer
	var pkgs atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if !strings.HasPrefix(line, "go: ") && !strings.HasPrefix(line, "#") {
				pkgs.Add(1)
			}
		}
	}()
	start := time.Now()
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return err
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait(); pw.Close() }()
	for {
		select {
		case err := <-waitErr:
			<-done
			if err != nil {
				return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail.String())
			}
			return nil
		case <-tick.C:
			fmt.Fprintf(b.opts.Progress, "harness:   %s: %s elapsed, %d packages compiled so far\n",
				label, time.Since(start).Round(time.Second), pkgs.Load())
		}
	}
}

// tailBuffer keeps the last lines of output.
type tailBuffer struct{ lines []string }

func (t *tailBuffer) add(s string) {
	t.lines = append(t.lines, s)
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

func (t *tailBuffer) String() string { return strings.Join(t.lines, "\n") }

// moduleInfo asks the go command where a module version lives.
func (b *builder) moduleInfo(ctx context.Context, mod string) (goMod, dir string, err error) {
	out, err := exec.CommandContext(ctx, b.opts.Go, "mod", "download", "-json", mod).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s %s", err, ee.Stderr, out)
		}
		return "", "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	var info struct{ GoMod, Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Error != "" {
		return "", "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	return info.GoMod, info.Dir, nil
}

// StagingReplaces reads a k8s.io/kubernetes go.mod and returns the
// k8s.io modules it requires at v0.0.0 (the staging repos, which the
// kubernetes repo replaces with local directories); a module outside that
// repo must replace each with its published v0.X.Y tag.
func StagingReplaces(goMod []byte) []string {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(goMod))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) < 2 || f[1] != "v0.0.0" || !strings.HasPrefix(f[0], "k8s.io/") || strings.ContainsAny(f[0], `"'\`) {
			continue
		}
		seen[f[0]] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// stagingVersion maps v1.37.2 to v0.37.2.
func stagingVersion(k8s string) string {
	return "v0." + strings.SplitN(strings.TrimPrefix(k8s, "v1."), "-", 2)[0]
}
