package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Versions of the components the harness builds.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.6.6"
	KwokVersion       = "v0.8.0"
)

// Tools are the paths of the built binaries EnsureTools returns.
type Tools struct {
	// KubeAPIServer and Kubectl are built from k8s.io/kubernetes at
	// KubernetesVersion.
	KubeAPIServer string
	Kubectl       string
	// Etcd is etcd's server at EtcdVersion.
	Etcd string
	// Kwok is kwok at KwokVersion, with the stdin fix described at
	// kwokStdinFrom.
	Kwok string
	// KwokStages is a directory with kwok's "fast" node and pod stage YAMLs.
	KwokStages string
}

// BuildOptions configure EnsureTools. The zero value is ready to use.
type BuildOptions struct {
	// CacheDir holds the binaries. Empty means CacheDir().
	CacheDir string
	// Progress receives a line when a build starts and ends and a
	// heartbeat while it runs. Nil discards them.
	Progress io.Writer
	// Go is the go command. Empty means "go" from PATH. Its environment
	// (GOPROXY, GOFLAGS, GOCACHE and the rest) is passed on unchanged,
	// except that GOWORK is off and GOOS/GOARCH are the running ones.
	Go string
}

// heartbeatEvery is how often a running build reports that it is alive.
const heartbeatEvery = 20 * time.Second

// CacheDir returns where built binaries are kept: $STEPGATE_CACHE_DIR if
// set, else the "stepgate" directory in the user cache dir.
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

// EnsureTools returns the cached binaries, building the ones that are
// missing. A cached binary is used without running go. Each build holds an
// exclusive lock on its cache entry, so test binaries started together
// build a tool once; the others wait for it.
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
	b := &builder{opts: opts, bin: filepath.Join(opts.CacheDir, "bin"), heartbeat: heartbeatEvery}
	if err := os.MkdirAll(b.bin, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	t := &Tools{}
	steps := []struct {
		dst                 *string
		name, version, cold string
		key                 string // cache key; the version plus any local change
		build               buildFunc
	}{
		{&t.KubeAPIServer, "kube-apiserver", KubernetesVersion, "about 10 minutes", KubernetesVersion, b.buildKubernetes("kube-apiserver")},
		{&t.Kubectl, "kubectl", KubernetesVersion, "a few minutes", KubernetesVersion, b.buildKubernetes("kubectl")},
		{&t.Etcd, "etcd", EtcdVersion, "about 2 minutes", EtcdVersion, b.buildEtcd},
		{&t.Kwok, "kwok", KwokVersion, "about 2 minutes", KwokVersion + "-stdin-eof", b.buildKwok},
	}
	for _, s := range steps {
		p, err := b.ensure(ctx, s.name, s.version, b.binPath(s.name, s.key), s.cold, s.build)
		if err != nil {
			return nil, err
		}
		*s.dst = p
	}
	stages, err := b.ensureKwokStages(ctx)
	if err != nil {
		return nil, err
	}
	t.KwokStages = stages
	return t, nil
}

// buildFunc builds one tool into out, using work as a scratch directory
// that is removed afterwards.
type buildFunc func(ctx context.Context, work, out string) error

// builder builds and caches tools; it lives for one EnsureTools call.
type builder struct {
	opts      BuildOptions
	bin       string        // the cache's bin dir
	heartbeat time.Duration // how often runGo reports progress
}

// binPath is where a tool of a version lives in the cache.
func (b *builder) binPath(name, key string) string {
	return filepath.Join(b.bin, fmt.Sprintf("%s-%s-%s-%s", name, key, runtime.GOOS, runtime.GOARCH))
}

// ensure returns out if it is there, or builds it under an exclusive lock
// into a temporary file that is renamed into place when complete.
func (b *builder) ensure(ctx context.Context, name, version, out, cold string, build buildFunc) (string, error) {
	if isExecutable(out) {
		return out, nil
	}
	unlock, err := b.lock(ctx, out+".lock", name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(out) { // built by another process while we waited
		return out, nil
	}
	start := time.Now()
	fmt.Fprintf(b.opts.Progress, "harness: building %s %s (cold: %s; cached afterwards in %s) ...\n", name, version, cold, b.bin)
	work, err := os.MkdirTemp("", "stepgate-build-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	defer os.RemoveAll(work)
	tmp := out + ".tmp"
	_ = os.Remove(tmp) // left by an interrupted build
	if err := build(ctx, work, tmp); err != nil {
		_ = os.Remove(tmp)
		fmt.Fprintf(b.opts.Progress, "harness: building %s %s failed after %s\n", name, version, since(start))
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	if !isExecutable(tmp) {
		return "", fmt.Errorf("build %s %s: go left no executable at %s", name, version, tmp)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("build %s %s: %w", name, version, err)
	}
	fmt.Fprintf(b.opts.Progress, "harness: built %s %s in %s\n", name, version, since(start))
	return out, nil
}

// lock takes an exclusive flock on path, waiting while ctx allows. The
// returned function releases it.
func (b *builder) lock(ctx context.Context, path, name string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(b.opts.Progress, "harness: waiting for another process that is building %s\n", name)
			told = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for the %s build lock: %w", name, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Second) }
