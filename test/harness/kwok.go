package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FirstLogLine is the line LogsFile starts with.
const FirstLogLine = "stepgate harness log start"

// kwokParallelism is the worker count of each kwok loop; kwok v0.8.0 does
// nothing while they are zero.
const kwokParallelism = 4

// kwokFeatures are the kwok "debugging" resources every pod on the node
// gets: a local shell for exec, a file for logs, another for attach, and a
// port forward of every port to the echo server.
func (c *Cluster) kwokFeatures() []map[string]any {
	doc := func(kind, name string, spec map[string]any) map[string]any {
		return map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": kind, "metadata": map[string]any{"name": name}, "spec": spec}
	}
	return []map[string]any{
		doc("ClusterExec", "harness-local-shell", map[string]any{
			"execs": []any{map[string]any{"local": map[string]any{"workDir": c.ExecDir}}},
		}),
		doc("ClusterLogs", "harness-logs-file", map[string]any{
			"logs": []any{map[string]any{"logsFile": c.LogsFile, "follow": true}},
		}),
		doc("ClusterAttach", "harness-attach-file", map[string]any{
			"attaches": []any{map[string]any{"logsFile": c.AttachFile}},
		}),
		doc("ClusterPortForward", "harness-echo", map[string]any{
			"forwards": []any{map[string]any{"target": map[string]any{"port": c.EchoPort, "address": "127.0.0.1"}}},
		}),
	}
}

// kwokConfig returns kwok's configuration file: its options, the stages
// from stagesDir, and the debugging features. Documents are JSON (which is
// YAML), so paths need no quoting rules.
func (c *Cluster) kwokConfig(pk *pki, port int) ([]byte, error) {
	options := map[string]any{
		"apiVersion": "config.kwok.x-k8s.io/v1alpha1",
		"kind":       "KwokConfiguration",
		"options": map[string]any{
			"manageSingleNode":          c.NodeName,
			"nodeName":                  c.NodeName,
			"nodeIP":                    "127.0.0.1",
			"nodePort":                  port,
			"serverAddress":             "127.0.0.1:" + strconv.Itoa(port),
			"tlsCertFile":               pk.kwokCert,
			"tlsPrivateKeyFile":         pk.kwokKey,
			"enableDebuggingHandlers":   true,
			"enableProfilingHandler":    false,
			"nodePlayStageParallelism":  kwokParallelism,
			"podPlayStageParallelism":   kwokParallelism,
			"nodeLeaseParallelism":      kwokParallelism,
			"podsOnNodeSyncParallelism": kwokParallelism,
		},
	}
	docs := []map[string]any{options}
	docs = append(docs, c.kwokFeatures()...)
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("kwok config: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	stages, err := readStages(c.Tools.KwokStages)
	if err != nil {
		return nil, err
	}
	buf.Write(stages)
	return buf.Bytes(), nil
}

// readStages concatenates the stage YAMLs in dir as further documents.
func readStages(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kwok stages: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("kwok stages: no stage in %s", dir)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("kwok stages: %w", err)
		}
		buf.WriteString("---\n")
		buf.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}

// startKwok prepares kwok's files and the echo server, starts kwok as the
// kubelet of NodeName, registers the node and waits until it is Ready.
func (c *Cluster) startKwok(ctx context.Context, pk *pki, port int) error {
	c.ExecDir = filepath.Join(c.Dir, "exec")
	c.LogsFile = filepath.Join(c.Dir, "pod.log")
	c.AttachFile = filepath.Join(c.Dir, "attach.log")
	if err := os.MkdirAll(c.ExecDir, 0o755); err != nil {
		return fmt.Errorf("kwok exec dir: %w", err)
	}
	if err := os.WriteFile(c.LogsFile, []byte(criLine(FirstLogLine)), 0o644); err != nil {
		return fmt.Errorf("kwok logs file: %w", err)
	}
	if err := os.WriteFile(c.AttachFile, nil, 0o644); err != nil {
		return fmt.Errorf("kwok attach file: %w", err)
	}
	echo, err := startEcho()
	if err != nil {
		return err
	}
	c.echo, c.EchoPort = echo, echo.port()
	cfg, err := c.kwokConfig(pk, port)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.Dir, "kwok.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	// HOME keeps kwok from reading or writing the user's ~/.kwok.
	p, err := c.startProc("kwok", []string{c.Tools.Kwok, "--config", cfgPath, "--kubeconfig", c.AdminKubeconfig},
		[]string{"HOME=" + c.Dir})
	if err != nil {
		return err
	}
	hc, err := c.httpClient()
	if err != nil {
		return err
	}
	healthz := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	if err := waitFor(ctx, p, kwokReadyTimeout, func(ctx context.Context) error {
		return getOK(ctx, hc, healthz, "")
	}); err != nil {
		return err
	}
	return c.registerNode(ctx, p)
}

// registerNode creates the node kwok manages and waits until kwok has made
// it Ready.
func (c *Cluster) registerNode(ctx context.Context, kwok *proc) error {
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        c.NodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": c.NodeName, "kubernetes.io/os": "linux"},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", c.NodeName, err)
	}
	return waitFor(ctx, kwok, kwokReadyTimeout, func(ctx context.Context) error {
		n, err := cs.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready yet", c.NodeName)
	})
}

// criTimeFormat is the CRI log format's timestamp: RFC 3339 with
// nanoseconds, fixed width.
const criTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// criLine formats one complete stdout line in the CRI log format.
func criLine(s string) string {
	return time.Now().UTC().Format(criTimeFormat) + " stdout F " + s + "\n"
}

// AppendLog appends a line to LogsFile, for `kubectl logs -f`. The line
// must not contain a newline.
func (c *Cluster) AppendLog(line string) error { return appendLine(c.LogsFile, line) }

// AppendAttach appends a line to AttachFile, which `kubectl attach` shows
// if it is connected. The line must not contain a newline.
func (c *Cluster) AppendAttach(line string) error { return appendLine(c.AttachFile, line) }

func appendLine(path, line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("append to %s: the line contains a newline", filepath.Base(path))
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append to %s: %w", filepath.Base(path), err)
	}
	if _, err := f.WriteString(criLine(line)); err != nil {
		_ = f.Close()
		return fmt.Errorf("append to %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append to %s: %w", filepath.Base(path), err)
	}
	return nil
}
