package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRevokeClosesStreams: revoking a session from the admin CLI (another
// process, same store) refuses its next request and closes its open
// watch, exec, attach and port-forward within seconds; the exec (over
// WebSocket) fails with stepgate's reason rather than ending as if the
// shell had exited.
func TestRevokeClosesStreams(t *testing.T) {
	s := startServer(t, "", "")
	_, kc := stepUpUser(t, s, "hana")
	envv := kubectlEnv(t, kc)

	// background starts a streaming kubectl and reports when it ends.
	background := func(args ...string) (*exec.Cmd, chan string, chan error) {
		cmd := exec.Command(env.kubectl, args...)
		cmd.Env = envv
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		lines := scanLines(out)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, lines, done
	}
	_, watchLines, watchDone := background("get", "pods", "-w")
	waitLine(t, watchLines, "web")
	env.cluster.AppendAttach("before-revoke")
	_, _, attachDone := background("attach", "web")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, pfLines, pfDone := background("port-forward", "pod/web", fmt.Sprintf("%d:8080", port))
	waitLine(t, pfLines, "Forwarding from")
	pfConn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pfConn.Close()
	pfConn.Write([]byte("ping\n"))
	pfConn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(pfConn, make([]byte, 5)); err != nil {
		t.Fatalf("port-forward echo before the revoke: %v", err)
	}

	sh := startTerm(t, envv, env.kubectl, "exec", "-it", "web", "--", "sh")
	time.Sleep(500 * time.Millisecond)
	sh.send("echo still-$((1+1))")
	sh.expect(`still-2`)
	// Wait until stepgate tracks the attach too (its log line comes at
	// the end, so look for the open-stream gauge instead).
	waitStreams(t, s, 4)

	list := s.mustStepgate(t, "", "session", "list", "--user", "hana")
	if !strings.Contains(list, "hana") {
		t.Fatalf("session list:\n%s", list)
	}
	start := time.Now()
	s.mustStepgate(t, "", "session", "revoke", "--user", "hana")

	for name, done := range map[string]chan error{"watch": watchDone, "attach": attachDone, "port-forward": pfDone} {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("the %s of a revoked session was still open after 5s", name)
		}
	}
	select {
	case <-sh.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the exec of a revoked session was still open after 5s")
	}
	if out, err := sh.wait(); err == nil || !strings.Contains(out, "session was revoked") {
		t.Errorf("the exec of a revoked session should fail with stepgate's reason: %v\n%s", err, out)
	}
	t.Logf("streams closed %s after the revoke command", time.Since(start).Round(time.Millisecond))
	out, err := kubectl(t, kc, "get", "pods")
	if err == nil || !strings.Contains(out, "not signed in") {
		t.Errorf("next request after revoke: %v\n%s", err, out)
	}
}

// waitStreams waits until stepgate's /metrics shows at least n open
// streams.
func waitStreams(t *testing.T, s *server, n int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^stepgate_open_streams (\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.httpClient().Get(s.url + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := re.FindSubmatch(body); m != nil {
				if got, _ := strconv.Atoi(string(m[1])); got >= n {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stepgate never had %d open streams", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDemo runs `stepgate demo` as a newcomer would and answers
// kubectl get ns through it.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(env.stepgate, "demo", "--listen", "127.0.0.1:0", "--dir", dir)
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var kubeconfig string
	select {
	case l := <-lines:
		kubeconfig = strings.TrimPrefix(l, "KUBECONFIG=")
	case <-time.After(3 * time.Minute):
		t.Fatalf("demo did not start:\n%s", stderr.String())
	}
	// stdout and stderr are separate pipes: the introduction printed to
	// stderr before the KUBECONFIG line may still be on its way.
	password := ""
	for deadline := time.Now().Add(10 * time.Second); password == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(stderr.String(), "\n") {
			if p, ok := strings.CutPrefix(l, "Password:   "); ok {
				password = p
			}
		}
	}
	if password == "" || !strings.Contains(stderr.String(), "▀") {
		t.Fatalf("demo did not print the password and QR code:\n%s", stderr.String())
	}
	home := t.TempDir()
	envv := append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	tm := startTerm(t, envv, env.kubectl, "get", "ns")
	tm.expect(`Password: `)
	tm.send(password)
	tm.expect(`One-time code[^\n]*: `)
	code, err := exec.Command(env.stepgate, "demo", "code", "--dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	tm.send(strings.TrimSpace(string(code)))
	out := tm.mustSucceed()
	if !strings.Contains(out, "prod-eu") || !strings.Contains(out, "kube-system") {
		t.Fatalf("kubectl get ns through the demo:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo exit after Ctrl-C: %v\n%s", err, lastLines(stderr.String(), 10))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo still running 30s after Ctrl-C")
	}
	if !strings.Contains(stderr.String(), "stopped; the cluster is shut down") {
		t.Errorf("demo did not say it stopped:\n%s", lastLines(stderr.String(), 5))
	}
}

// TestSystemKubectl runs the core flow with the machine's own kubectl, a
// different minor version from the cluster's.
func TestSystemKubectl(t *testing.T) {
	if env.systemKubectl == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no kubectl on PATH: the CI image ships one")
		}
		t.Log("no kubectl on PATH; only the built v1.37.2 kubectl was tested")
		return
	}
	version, _ := exec.Command(env.systemKubectl, "version", "--client").CombinedOutput()
	t.Logf("system kubectl: %s", strings.TrimSpace(string(version)))
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "ivan", "devs")
	kc := s.kubeconfig(t, u)
	envv := kubectlEnv(t, kc)
	tm := startTerm(t, envv, env.systemKubectl, "get", "pods")
	tm.expect(`Password: `)
	tm.send(u.password)
	tm.expect(`One-time code[^\n]*: `)
	tm.send(u.otp.next(t))
	if out := tm.mustSucceed(); !strings.Contains(out, "web") {
		t.Fatalf("get pods:\n%s", out)
	}
	for _, proto := range []string{"true", "false"} {
		out, err := kubectlWith(t, env.systemKubectl, append(envv, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+proto), "exec", "web", "--", "echo", "sys-ok")
		if err != nil || !strings.Contains(out, "sys-ok") {
			t.Errorf("exec (websockets=%s): %v\n%s", proto, err, out)
		}
	}
	portForwardRoundTrip(t, envv, env.systemKubectl)
	if out, err := kubectlWith(t, env.systemKubectl, envv, "auth", "whoami"); err != nil || !strings.Contains(out, "ivan") {
		t.Errorf("auth whoami: %v\n%s", err, out)
	}
}
