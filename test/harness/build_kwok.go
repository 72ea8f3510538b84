package harness

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// kwokStdinFrom and kwokStdinTo fix a kwok v0.8.0 bug. For an exec without
// a TTY, kwok copies the client's stdin into a pipe to the local command
// but never closes the pipe, so a command that reads stdin to its end (tar
// under `kubectl cp`, `echo x | kubectl exec -i ... -- cat`) waits forever.
// The harness therefore builds kwok from a copy of its module with the pipe
// closed after the copy, and fails the build if that line has moved.
const (
	kwokStdinFile = "pkg/utils/exec/exec.go"
	kwokStdinFrom = "\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n"
	kwokStdinTo   = kwokStdinFrom + "\t\t\t\t_ = inPipe.Close() // stepgate harness: let the command see the end of stdin\n"
)

// buildKwok builds kwok's command from a patched copy of its module. It is
// otherwise what `go install sigs.k8s.io/kwok/cmd/kwok@v0.8.0` does: the
// same module, go.mod and go.sum.
func (b *builder) buildKwok(ctx context.Context, work, out string) error {
	info, err := b.download(ctx, work, "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		return err
	}
	src := filepath.Join(work, "kwok")
	if err := copyTree(info.Dir, src); err != nil {
		return fmt.Errorf("copy kwok's module: %w", err)
	}
	if err := patchFile(filepath.Join(src, filepath.FromSlash(kwokStdinFile)), kwokStdinFrom, kwokStdinTo); err != nil {
		return fmt.Errorf("patch kwok %s: %w", KwokVersion, err)
	}
	return b.runGo(ctx, src, "building kwok", "build", "-v", "-o", out, "./cmd/kwok")
}

// patchFile replaces the one occurrence of from in path with to.
func patchFile(path, from, to string) error {
	code, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n := strings.Count(string(code), from); n != 1 {
		return fmt.Errorf("%s holds the code to patch %d times, want once", path, n)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(code), from, to, 1)), 0o644)
}

// copyTree copies the directories and regular files under src to dst. The
// module cache's files are read-only; the copies are writable.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		default:
			return nil // the module cache holds no links or devices
		}
	})
}

// ensureKwokStages copies the kwok module's fast node and pod stages into
// the cache once and returns that directory. Files are named
// <kind>-<stage file>, so node and pod stages cannot collide.
func (b *builder) ensureKwokStages(ctx context.Context) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "kwok-stages-"+KwokVersion)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	unlock, err := b.lock(ctx, dir+".lock", "kwok stages")
	if err != nil {
		return "", err
	}
	defer unlock()
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	work, err := os.MkdirTemp("", "stepgate-kwok-stages-")
	if err != nil {
		return "", fmt.Errorf("copy kwok stages: %w", err)
	}
	defer os.RemoveAll(work)
	info, err := b.download(ctx, work, "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("copy kwok stages: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("copy kwok stages: %w", err)
	}
	n := 0
	for _, kind := range []string{"node", "pod"} {
		src := filepath.Join(info.Dir, "kustomize", "stage", kind, "fast")
		entries, err := os.ReadDir(src)
		if err != nil {
			return "", fmt.Errorf("copy kwok stages: %w", err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return "", fmt.Errorf("copy kwok stages: %w", err)
			}
			if err := os.WriteFile(filepath.Join(tmp, kind+"-"+e.Name()), data, 0o644); err != nil {
				return "", fmt.Errorf("copy kwok stages: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return "", fmt.Errorf("copy kwok stages: none in the kwok %s module", KwokVersion)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("copy kwok stages: %w", err)
	}
	return dir, nil
}
