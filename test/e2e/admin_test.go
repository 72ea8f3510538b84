package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRevokeClosesStreams: revoking a session from the admin CLI (another
// process, same store) refuses its next request and closes its open watch
// and exec within seconds.
func TestRevokeClosesStreams(t *testing.T) {
	s := startServer(t, "", "")
	_, kc := stepUpUser(t, s, "hana")
	envv := kubectlEnv(t, kc)

	watch := exec.Command(env.kubectl, "get", "pods", "-w")
	watch.Env = envv
	wout, _ := watch.StdoutPipe()
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer watch.Process.Kill()
	watchLines := scanLines(wout)
	waitLine(t, watchLines, "web")

	sh := startTerm(t, envv, env.kubectl, "exec", "-it", "web", "--", "sh")
	time.Sleep(500 * time.Millisecond)
	sh.send("echo still-$((1+1))")
	sh.expect(`still-2`)

	list := s.mustStepgate(t, "", "session", "list", "--user", "hana")
	if !strings.Contains(list, "hana") {
		t.Fatalf("session list:\n%s", list)
	}
	start := time.Now()
	s.mustStepgate(t, "", "session", "revoke", "--user", "hana")

	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	select {
	case <-watchDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch of a revoked session was still open after 5s")
	}
	if _, err := sh.wait(); err == nil {
		t.Error("the exec of a revoked session ended without an error")
	}
	t.Logf("streams closed %s after the revoke command", time.Since(start).Round(time.Millisecond))
	out, err := kubectl(t, kc, "get", "pods")
	if err == nil || !strings.Contains(out, "not signed in") {
		t.Errorf("next request after revoke: %v\n%s", err, out)
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
