package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// signIn runs `stepgate login` on a terminal for u (enrolled) so that
// kubectl finds a cached token afterwards.
func (s *server) signIn(t *testing.T, u *user, kubeconfig string) {
	t.Helper()
	tm := startTerm(t, kubectlEnv(t, kubeconfig), env.stepgate, "login")
	tm.expect(`Password: `)
	tm.waitNoEcho()
	tm.send(u.password)
	tm.expect(`One-time code[^\n]*: `)
	tm.send(u.otp.next(t))
	tm.expect(`Signed in as ` + u.name)
	tm.mustSucceed()
}

// TestKubectlVerbs signs in through the exec plugin (enrolling TOTP at the
// terminal the first time) and then runs every kubectl verb on the cached
// token through stepgate.
func TestKubectlVerbs(t *testing.T) {
	s := startServer(t, "", "")
	u := s.addUser(t, "alice", "devs")
	kc := s.kubeconfig(t, u)
	envv := kubectlEnv(t, kc)

	t.Run("first sign-in enrolls TOTP at the terminal", func(t *testing.T) {
		tm := startTerm(t, envv, env.kubectl, "get", "pods")
		tm.expect(`Signing in to stepgate at ` + regexp.QuoteMeta(s.url) + ` as alice\n`)
		tm.expect(`Password: `)
		tm.waitNoEcho()
		tm.send(u.password)
		tm.expect(`One-time code[^\n]*: `)
		if strings.Contains(tm.output(), u.password) {
			t.Errorf("the password was echoed to the terminal:\n%s", tm.output())
		}
		tm.send("")
		qr := tm.expect(`Or enter this secret by hand: [A-Z2-7]+`)
		if !strings.Contains(qr, "▀") && !strings.Contains(qr, "▄") {
			t.Errorf("no QR code drawn before the secret:\n%s", qr)
		}
		u.otp = &otp{secret: qr[strings.LastIndex(qr, " ")+1:]}
		tm.expect(`Code shown by the app: `)
		tm.send(u.otp.next(t))
		tm.expect(`Two-factor authentication is on`)
		codes := tm.expect(`(?s)shown only now; store them somewhere safe:\n(\s+[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\n){10}`)
		if n := strings.Count(codes, "-") / 3; n != 10 {
			t.Errorf("%d recovery codes shown", n)
		}
		out := tm.mustSucceed()
		if !strings.Contains(out, "web") || !strings.Contains(out, "other") {
			t.Errorf("kubectl get pods after enrollment:\n%s", out)
		}
		if st, err := os.Stat(cacheFileOf(t, kc)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("token cache file: %v %v", st, err)
		}
	})

	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := kubectl(t, kc, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	t.Run("get", func(t *testing.T) {
		if out := run(t, "get", "pods", "-o", "name"); !strings.Contains(out, "pod/web") {
			t.Errorf("get pods: %s", out)
		}
	})
	t.Run("get -w receives an event", func(t *testing.T) { testWatch(t, kc) })
	t.Run("create, apply, apply --server-side, patch, delete", func(t *testing.T) {
		run(t, "create", "configmap", "verbs-create", "--from-literal=a=1")
		apply := func(name string, extra ...string) {
			cmd := exec.Command(env.kubectl, append([]string{"apply", "-f", "-"}, extra...)...)
			cmd.Env = envv
			cmd.Stdin = strings.NewReader(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: e2e}\ndata: {k: v}\n", name))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("apply %v: %v\n%s", extra, err, out)
			}
		}
		apply("verbs-apply")
		apply("verbs-ssa", "--server-side", "--field-manager=e2e")
		run(t, "patch", "configmap", "verbs-create", "-p", `{"data":{"a":"2"}}`)
		if out := run(t, "get", "configmap", "verbs-create", "-o", "jsonpath={.data.a}"); out != "2" {
			t.Errorf("patched value %q", out)
		}
		if out := run(t, "get", "configmap", "verbs-ssa", "-o", "jsonpath={.metadata.managedFields[0].manager}"); out != "e2e" {
			t.Errorf("server-side apply manager %q", out)
		}
		run(t, "delete", "configmap", "verbs-create", "verbs-apply", "verbs-ssa")
	})
	t.Run("logs and logs -f", func(t *testing.T) {
		if out := run(t, "logs", "web"); !strings.Contains(out, "stepgate harness log start") {
			t.Errorf("logs: %q", out)
		}
		follow(t, envv, []string{"logs", "-f", "web"}, func(n int) { env.cluster.AppendLog(fmt.Sprintf("follow-line-%d", n)) }, "follow-line-")
	})
	for _, proto := range []struct{ name, env string }{{"WebSocket", "true"}, {"SPDY", "false"}} {
		t.Run("exec -it over "+proto.name, func(t *testing.T) {
			tm := startTerm(t, append(envv, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+proto.env), env.kubectl, "exec", "-it", "web", "--", "sh")
			time.Sleep(500 * time.Millisecond)
			tm.send("echo hello-$((6*7))")
			tm.expect(`hello-42`)
			tm.send("exit")
			tm.mustSucceed()
		})
	}
	for _, proto := range []struct{ name, env string }{{"WebSocket", "true"}, {"SPDY", "false"}} {
		t.Run("attach over "+proto.name, func(t *testing.T) {
			e := append(append([]string{}, envv...), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+proto.env)
			follow(t, e, []string{"attach", "web"}, func(n int) { env.cluster.AppendAttach(fmt.Sprintf("attach-%s-line-%d", proto.name, n)) }, "attach-"+proto.name+"-line-")
		})
		t.Run("port-forward round trip over "+proto.name, func(t *testing.T) {
			portForwardRoundTrip(t, append(append([]string{}, envv...), "KUBECTL_PORT_FORWARD_WEBSOCKETS="+proto.env), env.kubectl)
		})
	}
	t.Run("both transports reached stepgate", func(t *testing.T) {
		// WebSocket upgrades arrive as GET, SPDY ones as POST: the audit
		// log shows that each subresource was really tried both ways.
		// A stream's line is written when it ends, just after kubectl.
		for _, sub := range []string{"exec", "attach", "portforward"} {
			for _, method := range []string{"GET", "POST"} {
				re := regexp.MustCompile(`"requestURI":"/api/v1/namespaces/e2e/pods/web/` + sub + `[^"]*","method":"` + method + `","code":101`)
				deadline := time.Now().Add(10 * time.Second)
				for !re.MatchString(s.stderr.String()) {
					if time.Now().After(deadline) {
						t.Errorf("no %s %s upgraded through stepgate", method, sub)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
	})
	t.Run("cp", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "in.txt")
		os.WriteFile(local, []byte("copied through stepgate\n"), 0o644)
		name := fmt.Sprintf("cp-%d.txt", time.Now().UnixNano())
		run(t, "cp", local, "web:"+name)
		got, err := os.ReadFile(filepath.Join(env.cluster.ExecDir, name))
		if err != nil || string(got) != "copied through stepgate\n" {
			t.Fatalf("file in the pod: %q %v", got, err)
		}
		back := filepath.Join(t.TempDir(), "back.txt")
		run(t, "cp", "web:"+name, back)
		if got, _ := os.ReadFile(back); string(got) != "copied through stepgate\n" {
			t.Errorf("copied back: %q", got)
		}
	})
	t.Run("auth whoami shows the signed-in user", func(t *testing.T) {
		out := run(t, "auth", "whoami")
		for _, want := range []string{"alice", "devs", "system:authenticated", "stepgate.io/session", "stepgate.io/mfa-at"} {
			if !strings.Contains(out, want) {
				t.Errorf("whoami lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "stepgate-proxy") || strings.Contains(out, "stepgate-admin") {
			t.Errorf("whoami shows the proxy's own identity:\n%s", out)
		}
	})
	t.Run("auth can-i", func(t *testing.T) {
		if out := run(t, "auth", "can-i", "create", "pods"); strings.TrimSpace(out) != "yes" {
			t.Errorf("can-i create pods: %q", out)
		}
		out, _ := kubectl(t, kc, "auth", "can-i", "delete", "nodes")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "no" {
			t.Errorf("can-i delete nodes: %q", out)
		}
	})
	t.Run("api-resources", func(t *testing.T) {
		if out := run(t, "api-resources", "--api-group=apps", "-o", "name"); !strings.Contains(out, "deployments.apps") {
			t.Errorf("api-resources: %s", out)
		}
	})
}

func cacheFileOf(t *testing.T, kubeconfig string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(kubeconfig), "cache", "stepgate", "sessions", "*.json"))
	if len(matches) != 1 {
		t.Fatalf("%d token cache files", len(matches))
	}
	return matches[0]
}

func testWatch(t *testing.T, kc string) {
	cmd := exec.Command(env.kubectl, "get", "configmaps", "-w", "--output-watch-events")
	cmd.Env = kubectlEnv(t, kc)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := scanLines(out)
	name := fmt.Sprintf("watched-%d", time.Now().UnixNano())
	time.Sleep(time.Second) // let the watch start before the event
	if _, err := env.cluster.Kubectl(ctxFor(t, time.Minute), "create", "configmap", name, "-n", "e2e"); err != nil {
		t.Fatal(err)
	}
	waitLineRE(t, lines, `^ADDED\s+`+name+`\s`)
}

func scanLines(r io.Reader) chan string {
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

func waitLineRE(t *testing.T, lines chan string, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before a line matching %q", pattern)
			}
			if re.MatchString(l) {
				return
			}
		case <-deadline:
			t.Fatalf("no line matching %q within 30s", pattern)
		}
	}
}

func waitLine(t *testing.T, lines chan string, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("%q not seen within 30s", want)
		}
	}
}

// follow runs a streaming kubectl command and appends lines (with write)
// until one shows up.
func follow(t *testing.T, envv, args []string, write func(int), want string) {
	t.Helper()
	cmd := exec.Command(env.kubectl, args...)
	cmd.Env = envv
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := scanLines(out)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for n := 0; ; n++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl %s ended before %q appeared", strings.Join(args, " "), want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-tick.C:
			write(n)
		case <-deadline:
			t.Fatalf("kubectl %s: %q not seen within 30s", strings.Join(args, " "), want)
		}
	}
}

func portForwardRoundTrip(t *testing.T, envv []string, kubectlBin string) {
	t.Helper()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(kubectlBin, "port-forward", "pod/web", fmt.Sprintf("%d:8080", port))
	cmd.Env = envv
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "Forwarding from") {
		t.Fatalf("port-forward did not start: %q %v %s", line, err, stderr.String())
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
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
		t.Fatalf("echo through port-forward: %v (%s)", err, stderr.String())
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("1 MiB came back different")
	}
}
