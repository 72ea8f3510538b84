package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kwokConfig is kwok's configuration: its options, the fast stages, and
// the debugging features every pod on the node gets.
func (c *Cluster) kwokConfig() (string, error) {
	var sb strings.Builder
	sb.WriteString(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableDebuggingHandlers: true
  nodePlayStageParallelism: 4
  podPlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 4
`)
	stages, err := os.ReadDir(c.Tools.KwokStages)
	if err != nil {
		return "", fmt.Errorf("kwok stages: %w", err)
	}
	names := make([]string, 0, len(stages))
	for _, s := range stages {
		names = append(names, s.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(c.Tools.KwokStages, n))
		if err != nil {
			return "", err
		}
		sb.WriteString("---\n")
		sb.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			sb.WriteByte('\n')
		}
	}
	fmt.Fprintf(&sb, `---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-shell
spec:
  execs:
  - local:
      workDir: %q
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: log-file
spec:
  logs:
  - logsFile: %q
    follow: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata:
  name: attach-file
spec:
  attaches:
  - logsFile: %q
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: echo
spec:
  forwards:
  - target:
      port: %d
      address: 127.0.0.1
`, c.ExecDir, c.LogsFile, c.AttachFile, c.EchoPort)
	return sb.String(), nil
}

func (c *Cluster) startKwok(ctx context.Context, port int) error {
	c.ExecDir = filepath.Join(c.Dir, "exec")
	c.LogsFile = filepath.Join(c.Dir, "pod.log")
	c.AttachFile = filepath.Join(c.Dir, "attach.log")
	if err := os.MkdirAll(c.ExecDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.LogsFile, []byte(criLine("stepgate harness log start")), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(c.AttachFile, nil, 0o644); err != nil {
		return err
	}
	if err := c.startEcho(); err != nil {
		return err
	}
	cfg, err := c.kwokConfig()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.Dir, "kwok.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := c.startProc("kwok", []string{c.Tools.Kwok,
		"--config", cfgPath, "--kubeconfig", c.AdminKubeconfig,
		"--manage-single-node", c.NodeName, "--node-name", c.NodeName,
		"--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(port), "--server-address", addr,
	}, []string{"HOME=" + c.Dir})
	if err != nil {
		return err
	}
	if err := waitFor(ctx, p, 60*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		return err
	}
	return c.createNode(ctx, p)
}

// createNode registers the kwok node and waits until kwok reports it Ready.
func (c *Cluster) createNode(ctx context.Context, kwok *proc) error {
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        c.NodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": c.NodeName},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	return waitFor(ctx, kwok, 60*time.Second, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", c.NodeName)
	})
}

// startEcho runs the TCP echo listener that pod ports forward to.
func (c *Cluster) startEcho() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.echo, c.EchoPort = l, l.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return nil
}

// criLine formats one log line as the CRI log format kwok serves.
func criLine(s string) string {
	return time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + s + "\n"
}

// AppendLog adds a line to the pods' log, for logs -f.
func (c *Cluster) AppendLog(line string) error { return appendFile(c.LogsFile, criLine(line)) }

// AppendAttach adds a line to what attach streams.
func (c *Cluster) AppendAttach(line string) error { return appendFile(c.AttachFile, criLine(line)) }

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
