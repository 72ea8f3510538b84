package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// versionLDFlags stamps the Kubernetes version into the binaries, as the
// release build does, so clients and kwok see v1.37.2 rather than
// v0.0.0-master.
func versionLDFlags() string {
	major := "1"
	minor := strings.SplitN(strings.TrimPrefix(KubernetesVersion, "v1."), ".", 2)[0]
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X "+pkg+".gitVersion="+KubernetesVersion,
			"-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor,
			"-X "+pkg+".gitTreeState=clean",
			"-X "+pkg+".buildDate=2026-01-01T00:00:00Z")
	}
	return strings.Join(flags, " ")
}

// kubernetesModule prepares (once) a throwaway module that can build from
// k8s.io/kubernetes: it requires that version and replaces every staging
// module with its published tag.
func (b *builder) kubernetesModule(ctx context.Context) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "src", "kubernetes-"+KubernetesVersion)
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
		return dir, nil
	}
	goModPath, _, err := b.moduleInfo(ctx, "k8s.io/kubernetes@"+KubernetesVersion)
	if err != nil {
		return "", err
	}
	upstream, err := os.ReadFile(goModPath)
	if err != nil {
		return "", err
	}
	staging := StagingReplaces(upstream)
	if len(staging) == 0 {
		return "", fmt.Errorf("no staging modules found in k8s.io/kubernetes %s go.mod", KubernetesVersion)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "module stepgate.local/kubernetes-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\n", KubernetesVersion)
	for _, m := range staging {
		fmt.Fprintf(&sb, "replace %s v0.0.0 => %s %s\n", m, m, stagingVersion(KubernetesVersion))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod": sb.String(),
		"tools.go": "//go:build tools\n\npackage tools\n\nimport (\n\t_ \"k8s.io/kubernetes/cmd/kube-apiserver\"\n" +
			"\t_ \"k8s.io/kubernetes/cmd/kubectl\"\n)\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(b.opts.Progress, "harness:   resolving k8s.io/kubernetes %s dependencies (%d staging modules)\n", KubernetesVersion, len(staging))
	if err := b.goCmd(ctx, dir, "go mod tidy", "mod", "tidy"); err != nil {
		os.Remove(filepath.Join(dir, "go.sum"))
		return "", err
	}
	return dir, nil
}

func (b *builder) buildKubernetes(ctx context.Context, name, out string) error {
	dir, err := b.kubernetesModule(ctx)
	if err != nil {
		return err
	}
	return b.goCmd(ctx, dir, name, "build", "-v", "-ldflags", versionLDFlags(), "-o", out, "k8s.io/kubernetes/cmd/"+name)
}

func (b *builder) buildEtcd(ctx context.Context, name, out string) error {
	dir := filepath.Join(b.opts.CacheDir, "src", "etcd-"+EtcdVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"go.mod":  "module stepgate.local/etcd-build\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 " + EtcdVersion + "\n",
		"main.go": "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n",
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				return err
			}
		}
		if err := b.goCmd(ctx, dir, "go mod tidy", "mod", "tidy"); err != nil {
			os.Remove(filepath.Join(dir, "go.sum"))
			return err
		}
	}
	return b.goCmd(ctx, dir, name, "build", "-v", "-o", out, ".")
}

// kwokStdinFrom/To fix a kwok v0.8.0 bug: its local exec copies the
// client's stdin into the child's pipe but never closes the pipe, so a
// child reading to EOF (tar in `kubectl cp`, `echo x | kubectl exec -i`)
// waits forever, with or without stepgate in the path. The harness builds
// kwok from a copy of its module with the pipe closed after the copy.
const (
	kwokStdinFrom = "\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n"
	kwokStdinTo   = kwokStdinFrom + "\t\t\t\t_ = inPipe.Close() // stepgate harness: let the child see EOF\n"
)

func (b *builder) buildKwok(ctx context.Context, name, out string) error {
	src, err := b.patchedKwok(ctx)
	if err != nil {
		return err
	}
	return b.goCmd(ctx, src, name, "build", "-v", "-o", out, "./cmd/kwok")
}

// patchedKwok copies the kwok module into the cache once and applies
// the stdin fix, failing if the code it patches is not there.
func (b *builder) patchedKwok(ctx context.Context) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "src", "kwok-"+KwokVersion+"-stdin-eof")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return dir, nil
	}
	_, modDir, err := b.moduleInfo(ctx, "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := copyTree(modDir, tmp); err != nil {
		return "", fmt.Errorf("copy kwok source: %w", err)
	}
	target := filepath.Join(tmp, "pkg", "utils", "exec", "exec.go")
	code, err := os.ReadFile(target)
	if err != nil {
		return "", err
	}
	if strings.Count(string(code), kwokStdinFrom) != 1 {
		return "", fmt.Errorf("kwok %s: the stdin copy to patch is not in %s; review kwokStdinFrom", KwokVersion, target)
	}
	patched := strings.Replace(string(code), kwokStdinFrom, kwokStdinTo, 1)
	if err := os.WriteFile(target, []byte(patched), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// copyTree copies a directory of regular files (the module cache's are
// read-only; the copies are writable).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// kwokStages copies the kwok module's fast node and pod stages into the
// cache and returns that directory.
func (b *builder) kwokStages(ctx context.Context) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "kwok-stages-"+KwokVersion)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	_, modDir, err := b.moduleInfo(ctx, "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	for _, kind := range []string{"node", "pod"} {
		src := filepath.Join(modDir, "kustomize", "stage", kind, "fast")
		entries, err := os.ReadDir(src)
		if err != nil {
			return "", fmt.Errorf("kwok stages: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(tmp, kind+"-"+e.Name()), data, 0o644); err != nil {
				return "", err
			}
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}
