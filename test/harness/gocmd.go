package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// goTailLines is how much of go's output a failed build's error carries.
const goTailLines = 40

// goEnv is the environment of every go command the harness runs: the
// caller's, with workspaces off (the throwaway modules stand alone) and
// the platform pinned to the one the cache key names.
func goEnv() []string {
	return append(os.Environ(), "GOWORK=off", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
}

// runGo runs the go command in dir. While it runs, it writes a heartbeat
// to the progress writer every b.heartbeat with the time elapsed and what
// go reported so far (packages compiled with -v, modules downloaded). A
// failure's error ends with the tail of go's output.
func (b *builder) runGo(ctx context.Context, dir, label string, args ...string) error {
	return b.runGoOutput(ctx, dir, label, nil, args...)
}

// runGoOutput is runGo with go's standard output sent to stdout instead of
// the progress accounting, when stdout is not nil.
func (b *builder) runGoOutput(ctx context.Context, dir, label string, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, b.opts.Go, args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	cmd.WaitDelay = 5 * time.Second
	var out goOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdout != nil {
		cmd.Stdout = stdout
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start go: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(b.heartbeat)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("go %s: %w\n--- last lines of go's output ---\n%s", strings.Join(args, " "), err, out.tail())
			}
			return nil
		case <-tick.C:
			fmt.Fprintf(b.opts.Progress, "harness:   %s: %s elapsed%s\n", label, since(start), out.summary())
		}
	}
}

// goOutput collects go's combined output: the last lines, and counts of
// packages compiled and modules downloaded.
type goOutput struct {
	mu         sync.Mutex
	partial    []byte
	lines      []string
	packages   int
	downloads  int
	otherLines int
}

func (o *goOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.addLine(string(o.partial[:i]))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 64<<10 { // a line without end: keep its start
		o.addLine(string(o.partial[:4096]) + " ...")
		o.partial = o.partial[:0]
	}
	return len(p), nil
}

func (o *goOutput) addLine(l string) {
	switch {
	case strings.HasPrefix(l, "go: downloading "):
		o.downloads++
	case l != "" && !strings.ContainsAny(l, " \t:") && !strings.HasPrefix(l, "#"):
		o.packages++ // go build -v prints each package path as it builds it
	default:
		o.otherLines++
	}
	o.lines = append(o.lines, l)
	if len(o.lines) > 2*goTailLines {
		o.lines = append(o.lines[:0], o.lines[len(o.lines)-goTailLines:]...)
	}
}

func (o *goOutput) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := o.lines
	if len(o.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(o.partial))
	}
	if len(lines) > goTailLines {
		lines = lines[len(lines)-goTailLines:]
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, "\n")
}

func (o *goOutput) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var s string
	if o.packages > 0 {
		s += fmt.Sprintf(", %d packages compiled", o.packages)
	}
	if o.downloads > 0 {
		s += fmt.Sprintf(", %d modules downloaded", o.downloads)
	}
	return s
}

// moduleInfo is what `go mod download -json` says about a module version.
type moduleInfo struct {
	Path, Version string
	// GoMod is the path of the version's go.mod in the module cache.
	GoMod string
	// Dir is the version's extracted source in the module cache.
	Dir   string
	Error string
}

// download fetches a module version through the go command (so GOPROXY,
// GOFLAGS, GONOSUMDB and the rest apply) and says where it is. It runs in
// dir, which must not be inside a module whose go.sum it could touch.
func (b *builder) download(ctx context.Context, dir, modVersion string) (*moduleInfo, error) {
	var stdout bytes.Buffer
	runErr := b.runGoOutput(ctx, dir, "downloading "+modVersion, &stdout, "mod", "download", "-json", modVersion)
	var info moduleInfo
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		if runErr != nil {
			return nil, runErr
		}
		return nil, fmt.Errorf("go mod download %s: read its answer: %w", modVersion, err)
	}
	switch {
	case info.Error != "":
		return nil, fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	case runErr != nil:
		return nil, runErr
	case info.GoMod == "" || info.Dir == "":
		return nil, fmt.Errorf("go mod download %s: no go.mod or source dir in its answer", modVersion)
	}
	return &info, nil
}

// writeFiles writes name → content pairs into dir.
func writeFiles(dir string, files map[string]string) error {
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
