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

func (b *builder) buildKwok(ctx context.Context, name, out string) error {
	gobin, err := os.MkdirTemp(b.bin, ".kwok-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(gobin)
	tmp, err := os.MkdirTemp("", "stepgate-kwok-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := b.goCmdEnv(ctx, tmp, name, []string{"GOBIN=" + gobin}, "install", "-v", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion); err != nil {
		return err
	}
	return os.Rename(filepath.Join(gobin, "kwok"), out)
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
