package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStagingReplaces(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		goMod string
		want  []string
	}{
		{"require block", "module k8s.io/kubernetes\n\nrequire (\n\tk8s.io/api v0.0.0\n\tk8s.io/client-go v0.0.0\n\tk8s.io/utils v0.0.0-2024\n\tgithub.com/x/y v0.0.0\n)\n",
			[]string{"k8s.io/api", "k8s.io/client-go"}},
		{"single-line require and duplicates", "require k8s.io/apiserver v0.0.0\nrequire k8s.io/apiserver v0.0.0 // indirect\n", []string{"k8s.io/apiserver"}},
		{"replace lines are not requires", "replace k8s.io/api => ./staging/src/k8s.io/api\n", []string{}},
		{"garbage", "\x00\xff require ((( k8s.io\n\t\t\nv0.0.0 k8s.io/x\n", []string{}},
		{"quoted path refused", "require \"k8s.io/evil\" v0.0.0\n", []string{}},
		{"empty", "", []string{}},
		{"huge line", strings.Repeat("k", 200000) + " v0.0.0\n", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := StagingReplaces([]byte(tc.goMod))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("StagingReplaces (-want +got):\n%s", diff)
			}
		})
	}
	if v := stagingVersion("v1.37.2"); v != "v0.37.2" {
		t.Errorf("stagingVersion = %s", v)
	}
}

// TestCluster starts one real cluster and checks each kubelet feature the
// end-to-end tests rely on, with the built kubectl as the admin.
func TestCluster(t *testing.T) {
	c := StartForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Apply(ctx, c.PodManifest("default", "web")); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitPodRunning(ctx, "default", "web"); err != nil {
		t.Fatal(err)
	}
	kubectl := func(env []string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, c.Tools.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
	for _, proto := range []struct{ name, env string }{
		{"websocket", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true"},
		{"spdy", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"},
	} {
		t.Run("exec over "+proto.name, func(t *testing.T) {
			out, err := kubectl([]string{proto.env}, "exec", "web", "--", "sh", "-c", "echo hi-$((40+2)); pwd").CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			want := "hi-42\n" + c.ExecDir + "\n"
			if string(out) != want {
				t.Errorf("exec output %q, want %q", out, want)
			}
		})
	}
	t.Run("exec -i sees the end of stdin", func(t *testing.T) {
		cmd := kubectl(nil, "exec", "-i", "web", "--", "sh", "-c", "wc -c; echo done")
		cmd.Stdin = strings.NewReader("12345")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "5\ndone" {
			t.Fatalf("exec -i with finite stdin: %v %q", err, out)
		}
	})
	t.Run("logs", func(t *testing.T) {
		out, err := kubectl(nil, "logs", "web").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "stepgate harness log start") {
			t.Fatalf("logs: %v: %s", err, out)
		}
	})
	t.Run("port-forward round trip", func(t *testing.T) { testPortForward(t, ctx, c, kubectl) })
	t.Run("attach shows new lines", func(t *testing.T) { testAttach(t, ctx, c, kubectl) })
}

func testPortForward(t *testing.T, ctx context.Context, c *Cluster, kubectl func([]string, ...string) *exec.Cmd) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := kubectl(nil, "port-forward", "pod/web", fmt.Sprintf("%d:8080", ports[0]))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "Forwarding from") {
		t.Fatalf("port-forward did not start: %q %v", line, err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go conn.Write(payload)
	got := make([]byte, len(payload))
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("1 MiB echo came back different")
	}
}

func testAttach(t *testing.T, ctx context.Context, c *Cluster, kubectl func([]string, ...string) *exec.Cmd) {
	cmd := kubectl(nil, "attach", "web")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("attach ended without showing the line")
			}
			if strings.Contains(l, "attached-line") {
				return
			}
		case <-tick.C:
			// Keep appending: attach shows only what is written after it connects.
			c.AppendAttach(fmt.Sprintf("attached-line %d", n))
		case <-deadline:
			t.Fatal("attach showed nothing within 30s")
		}
	}
}
