package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Kubectl runs the built kubectl as the cluster admin.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	return c.kubectl(ctx, nil, args...)
}

func (c *Cluster) kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Tools.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// Apply applies a manifest as the cluster admin.
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	_, err := c.kubectl(ctx, []byte(manifest), "apply", "-f", "-")
	return err
}

// WaitPodRunning waits until kwok has the pod Running and Ready.
func (c *Cluster) WaitPodRunning(ctx context.Context, namespace, name string) error {
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s/%s not running after 60s (last error %v)", namespace, name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PodManifest is a pod with one container, bound to the kwok node (no
// scheduler runs).
func (c *Cluster) PodManifest(namespace, name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app: %s}
spec:
  nodeName: %s
  containers:
  - name: main
    image: example.invalid/fake:1
    ports:
    - containerPort: 8080
`, name, namespace, name, c.NodeName)
}

// TB is the part of testing.TB the harness uses, so the package need not
// import testing (the demo binary links it).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// logWriter sends progress lines to a test log.
type logWriter struct{ t TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartForTest ensures the tools and starts a cluster that is stopped when
// the test ends. A tool that cannot be built fails the test: end-to-end
// tests never skip.
func StartForTest(t TB) *Cluster {
	t.Helper()
	ctx := context.Background()
	tools, err := EnsureTools(ctx, BuildOptions{Progress: os.Stderr})
	if err != nil {
		t.Fatalf("harness: cannot build the cluster's binaries: %v", err)
	}
	c, err := Start(ctx, Options{Tools: tools, Log: logWriter{t}})
	if err != nil {
		t.Fatalf("harness: start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// PID returns the process id of a component the cluster started
// ("etcd", "kube-apiserver", "kwok"), or 0.
func (c *Cluster) PID(name string) int {
	for _, p := range c.procs {
		if p.name == name && p.cmd.Process != nil {
			return p.cmd.Process.Pid
		}
	}
	return 0
}
