package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/web"
)

// server is one `stepgate serve` process with its own data dir.
type server struct {
	dir, cfgPath, url string
	ca                []byte
	cmd               *exec.Cmd
	stderr            *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer writes a configuration (rulesYAML is the rules: list, extra
// more top-level YAML) and runs stepgate serve until the test ends.
func startServer(t *testing.T, rulesYAML, extra string) *server {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if rulesYAML == "" {
		rulesYAML = "[]"
	}
	cfg := fmt.Sprintf(`apiVersion: stepgate.io/v1alpha1
kind: StepgateConfiguration
listen: 127.0.0.1:%d
dataDir: %s
upstream:
  kubeconfig: %s
log:
  level: info
rules: %s
%s`, port, dir, env.cluster.ProxyKubeconfig, rulesYAML, extra)
	s := &server{dir: dir, cfgPath: filepath.Join(dir, "stepgate.yaml"), url: fmt.Sprintf("https://localhost:%d", port), stderr: &syncBuffer{}}
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(env.stepgate, "serve", "--config", s.cfgPath)
	s.cmd.Stderr = s.stderr
	s.cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			t.Errorf("stepgate did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("stepgate log:\n%s", lastLines(s.stderr.String(), 60))
		}
	})
	s.waitReady(t)
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *server) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ca, err := os.ReadFile(filepath.Join(s.dir, "tls", "ca.crt")); err == nil {
			s.ca = ca
			if resp, err := s.httpClient().Get(s.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("stepgate not ready:\n%s", s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ca)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// stepgate runs a CLI command against the server's store.
func (s *server) stepgate(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(env.stepgate, append(args, "--config", s.cfgPath)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "HOME="+s.dir, "USER=e2e-admin")
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (s *server) mustStepgate(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := s.stepgate(t, stdin, args...)
	if err != nil {
		t.Fatalf("stepgate %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *server) client(t *testing.T) *web.Client {
	t.Helper()
	c, err := web.NewClient(s.url, s.ca)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// user is an account the test can sign in as.
type user struct {
	name, password string
	otp            *otp
}

// addUser creates an account (without TOTP) with the CLI.
func (s *server) addUser(t *testing.T, name string, groups ...string) *user {
	t.Helper()
	return s.addUserWith(t, name, nil, groups...)
}

// addUserWith is addUser with extra flags for user add (such as --admin).
func (s *server) addUserWith(t *testing.T, name string, flags []string, groups ...string) *user {
	t.Helper()
	pw := "tall oak river lamp 7f3a"
	args := append([]string{"user", "add", name, "--password-stdin"}, flags...)
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	s.mustStepgate(t, pw+"\n", args...)
	return &user{name: name, password: pw}
}

// enrolledUser creates an account and enrolls TOTP through the API, as
// the first sign-in would.
func (s *server) enrolledUser(t *testing.T, name string, groups ...string) *user {
	t.Helper()
	return s.enroll(t, s.addUser(t, name, groups...))
}

// enroll switches TOTP on for a new account through the API.
func (s *server) enroll(t *testing.T, u *user) *user {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	c := s.client(t)
	info, err := c.Login(ctx, web.LoginRequest{Username: u.name, Password: u.password})
	if err != nil || !info.EnrollmentRequired {
		t.Fatalf("first login of %s: %+v %v", u.name, info, err)
	}
	en, err := c.WithToken(info.Token).BeginEnrollment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u.otp = &otp{secret: en.Secret}
	if _, err := c.WithToken(info.Token).ConfirmEnrollment(ctx, u.otp.next(t)); err != nil {
		t.Fatal(err)
	}
	return u
}

// login signs u in through the API and returns the token.
func (s *server) login(t *testing.T, u *user) string {
	t.Helper()
	info, err := s.client(t).Login(ctxFor(t, time.Minute), web.LoginRequest{Username: u.name, Password: u.password, Code: u.otp.next(t)})
	if err != nil {
		t.Fatalf("login %s: %v", u.name, err)
	}
	return info.Token
}

// kubeconfig writes a kubeconfig for u made by `stepgate kubeconfig`.
func (s *server) kubeconfig(t *testing.T, u *user) string {
	t.Helper()
	out := s.mustStepgate(t, "", "kubeconfig", "--server", s.url, "--user", u.name, "--namespace", "e2e", "--command", env.stepgate)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// otp plays the authenticator app. Every code must be of a newer time step
// than the last (stepgate refuses replays), and stepgate accepts the steps
// either side of now, so it hands out up to three codes per 30 s without
// waiting, and waits for the next step when those are spent.
type otp struct {
	mu     sync.Mutex
	secret string
	last   int64
}

func (o *otp) next(t *testing.T) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var totp mfa.TOTP
	for {
		now := time.Now()
		step := totp.Step(now)
		lo := step - 1
		if now.Unix()%30 >= 27 { // about to roll over: step-1 would be too old
			lo = step
		}
		cand := max(o.last+1, lo)
		if cand <= step+1 {
			o.last = cand
			code, err := totp.Code(o.secret, time.Unix(cand*30, 0))
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
		time.Sleep(time.Until(time.Unix((step+1)*30, 0)) + 100*time.Millisecond)
	}
}

// kubectlEnv is the environment kubectl (and so the plugin) runs in.
func kubectlEnv(t *testing.T, kubeconfig string) []string {
	home := filepath.Dir(kubeconfig)
	return append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
}

// kubectl runs kubectl without a terminal and returns its combined output.
func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	return kubectlWith(t, env.kubectl, kubectlEnv(t, kubeconfig), args...)
}

func kubectlWith(t *testing.T, bin string, envv []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = envv
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cachedToken reads the plugin's cached token for a kubeconfig.
func cachedToken(t *testing.T, kubeconfig string) string {
	t.Helper()
	data, err := os.ReadFile(cacheFileOf(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.Token
}

// setCachedToken replaces the cached token (after a step-up through the
// API rotated it).
func setCachedToken(t *testing.T, kubeconfig, token string) {
	t.Helper()
	path := cacheFileOf(t, kubeconfig)
	data, _ := os.ReadFile(path)
	var c map[string]any
	json.Unmarshal(data, &c)
	c["token"] = token
	data, _ = json.Marshal(c)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func stepUpRequest(u *user, t *testing.T, challengeID string) web.StepUpRequest {
	return web.StepUpRequest{Code: u.otp.next(t), ChallengeID: challengeID}
}
