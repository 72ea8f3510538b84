package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestCluster starts one real cluster and checks, with the built kubectl
// as the admin, each thing the end-to-end tests rely on. The subtests run
// in order and share the cluster and its pod; the last one stops it.
func TestCluster(t *testing.T) {
	c := StartForTest(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := c.Apply(ctx, c.PodManifest("default", "web")); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitPodRunning(ctx, "default", "web"); err != nil {
		t.Fatal(err)
	}

	t.Run("cached tools need no go", func(t *testing.T) {
		tools, err := EnsureTools(ctx, BuildOptions{Go: "/nonexistent/go"})
		if err != nil {
			t.Fatalf("EnsureTools with the tools cached ran go: %v", err)
		}
		if diff := cmp.Diff(c.Tools, tools); diff != "" {
			t.Errorf("tools (-started with +cached):\n%s", diff)
		}
	})
	t.Run("bootstrap objects", func(t *testing.T) { testBootstrap(ctx, t, c) })
	for _, proto := range []struct{ name, websockets string }{{"websocket", "true"}, {"spdy", "false"}} {
		t.Run("exec over "+proto.name, func(t *testing.T) {
			cmd := c.KubectlCommand(ctx, "exec", "web", "--", "sh", "-c", "echo hi; pwd")
			cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+proto.websockets)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if diff := cmp.Diff("hi\n"+c.ExecDir+"\n", string(out)); diff != "" {
				t.Errorf("exec output (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("exec -i sees the end of stdin", func(t *testing.T) {
		cmd := c.KubectlCommand(ctx, "exec", "-i", "web", "--", "sh", "-c", "wc -c; echo done")
		cmd.Stdin = strings.NewReader("12345")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got := strings.Fields(string(out)); !cmp.Equal(got, []string{"5", "done"}) {
			t.Errorf("exec -i output %q, want 5 and done", out)
		}
	})
	t.Run("logs", func(t *testing.T) {
		if err := c.AppendLog("second line"); err != nil {
			t.Fatal(err)
		}
		out, err := c.Kubectl(ctx, "logs", "web")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(FirstLogLine+"\nsecond line\n", string(out)); diff != "" {
			t.Errorf("logs (-want +got):\n%s", diff)
		}
	})
	t.Run("logs -f shows appended lines", func(t *testing.T) {
		follow(ctx, t, c.KubectlCommand(ctx, "logs", "-f", "web"), "followed-line", c.AppendLog)
	})
	t.Run("attach shows lines appended after it connects", func(t *testing.T) {
		follow(ctx, t, c.KubectlCommand(ctx, "attach", "web"), "attached-line", c.AppendAttach)
	})
	for _, proto := range []struct{ name, websockets string }{{"websocket", "true"}, {"spdy", "false"}} {
		t.Run("port-forward over "+proto.name, func(t *testing.T) {
			testPortForward(ctx, t, c, "KUBECTL_PORT_FORWARD_WEBSOCKETS="+proto.websockets)
		})
	}
	t.Run("stop ends every process", func(t *testing.T) { testStop(t, c) })
}

func testBootstrap(ctx context.Context, t *testing.T, c *Cluster) {
	admin, err := c.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("default service account: %v", err)
	}
	proxy := kubernetes.NewForConfigOrDie(c.ProxyRESTConfig())
	if _, err := proxy.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the proxy user listing pods as itself: got %v, want forbidden", err)
	}
	cfg := c.ProxyRESTConfig()
	cfg.Impersonate.UserName = "alice"
	cfg.Impersonate.UID = "alice-uid"
	cfg.Impersonate.Groups = []string{"devs"}
	cfg.Impersonate.Extra = map[string][]string{"stepgate.io/session": {"s-1"}, "example.org/any-key": {"x", "y"}}
	asAlice := kubernetes.NewForConfigOrDie(cfg)
	review, err := asAlice.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the proxy user impersonating: %v", err)
	}
	want := authenticationv1.UserInfo{
		Username: "alice", UID: "alice-uid", Groups: []string{"devs", "system:authenticated"},
		Extra: map[string]authenticationv1.ExtraValue{"stepgate.io/session": {"s-1"}, "example.org/any-key": {"x", "y"}},
	}
	if diff := cmp.Diff(want, review.Status.UserInfo); diff != "" {
		t.Errorf("impersonated user (-want +got):\n%s", diff)
	}
}

// follow starts a streaming kubectl (logs -f, attach) and appends numbered
// lines with appendLine until one shows up in its output: these commands
// show only what is written after they have connected.
func follow(ctx context.Context, t *testing.T, cmd *exec.Cmd, marker string, appendLine func(string) error) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl ended without showing %q: %s", marker, stderr.String())
			}
			if strings.HasPrefix(l, marker+" ") {
				return
			}
		case <-tick.C:
			n++
			if err := appendLine(marker + " " + strconv.Itoa(n)); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("kubectl showed no %q within 30s: %s", marker, stderr.String())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

var forwardingRE = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)

// testPortForward forwards a local port to the pod's port 8080, which kwok
// sends to the harness's echo server, and checks that 1 MiB comes back.
func testPortForward(ctx context.Context, t *testing.T, c *Cluster, env string) {
	cmd := c.KubectlCommand(ctx, "port-forward", "pod/web", "--address", "127.0.0.1", ":8080")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	m := forwardingRE.FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("port-forward did not start: %q %v %s", line, err, stderr.String())
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	writeErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		writeErr <- err
	}()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read the echo: %v (kubectl: %s)", err, stderr.String())
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the 1 MiB echo came back different")
	}
}

// testStop stops the cluster twice and checks that its processes, their
// process groups and the echo server are gone.
func testStop(t *testing.T, c *Cluster) {
	var pids []int
	for _, name := range []string{"etcd", "kube-apiserver", "kwok"} {
		pid := c.PID(name)
		if pid == 0 {
			t.Fatalf("no pid for %s", name)
		}
		pids = append(pids, pid)
	}
	c.Stop()
	c.Stop()
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still there after Stop: %v", pid, err)
		}
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.EchoPort), time.Second); err == nil {
		conn.Close()
		t.Error("the echo server still accepts after Stop")
	}
}
