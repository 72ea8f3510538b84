package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podRunningTimeout bounds WaitPodRunning when ctx has no deadline.
const podRunningTimeout = time.Minute

// KubectlCommand returns a command that runs the cluster's kubectl as
// AdminUser, for callers that stream (port-forward, attach, logs -f) or
// set its environment. Its Stdin, Stdout and Stderr are unset.
func (c *Cluster) KubectlCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Tools.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Kubectl runs the cluster's kubectl as AdminUser and returns its
// standard output. The error carries its standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	return c.kubectl(ctx, nil, args...)
}

func (c *Cluster) kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := c.KubectlCommand(ctx, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Apply applies a YAML manifest (one or more documents) as AdminUser, with
// kubectl apply -f -.
func (c *Cluster) Apply(ctx context.Context, manifest string) error {
	_, err := c.kubectl(ctx, []byte(manifest), "apply", "-f", "-")
	return err
}

// WaitPodRunning waits until the pod is Running and Ready, which kwok
// reports within a second or two of its creation. Without a deadline in
// ctx it waits up to a minute.
func (c *Cluster) WaitPodRunning(ctx context.Context, namespace, name string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, podRunningTimeout)
		defer cancel()
	}
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		last := err
		if err == nil {
			if podReady(p) {
				return nil
			}
			last = fmt.Errorf("phase %s", p.Status.Phase)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s not running: %w (last: %v)", namespace, name, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// PodManifest returns the YAML of a pod with one container ("main",
// exposing port 8080) bound to the kwok node, as no scheduler runs.
func (c *Cluster) PodManifest(namespace, name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %q
  namespace: %q
  labels: {app: %q}
spec:
  nodeName: %q
  containers:
  - name: main
    image: example.invalid/harness:1
    ports:
    - containerPort: 8080
`, name, namespace, name, c.NodeName)
}
