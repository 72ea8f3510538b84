package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/proxy"
	"stepgate.io/stepgate/test/harness"
	"stepgate.io/stepgate/web"
)

const (
	benchNS    = "bench"
	benchUser  = "bench"
	benchGroup = "bench-readers"
	benchPass  = "measured passphrase that is long"
)

// env is everything a run set up.
type env struct {
	opts    Options
	dir     string
	cluster *harness.Cluster
	procs   []*exec.Cmd
	// stepgate server
	sgURL, sgCfg string
	sgPprof      string
	profiles     int // heap profiles saved so far
	sgPID        int
	sgCA         []byte
	token        string
	session      *web.SessionInfo
	otp          mfa.TOTP
	secret       string
	// impersonation headers that direct and the floor send, identical to
	// what stepgate sends for the signed-in session
	imp http.Header
	// floor
	floorURL string
	floorPID int
	floorCA  []byte
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// seed creates the namespace, RBAC for the bench group, and n pods.
func (e *env) seed(ctx context.Context, n int) error {
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: readers, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: readers}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: %[2]s}]
`, benchNS, benchGroup)
	if err := e.cluster.Apply(ctx, manifest); err != nil {
		return err
	}
	cs, err := e.cluster.AdminClient()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: benchNS, Labels: map[string]string{"app": "bench", "shard": fmt.Sprint(i % 10)}},
				Spec: corev1.PodSpec{NodeName: e.cluster.NodeName, Containers: []corev1.Container{{
					Name: "main", Image: "example.invalid/bench:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					Env: []corev1.EnvVar{{Name: "ROLE", Value: "bench"}, {Name: "INDEX", Value: fmt.Sprint(i)}},
				}}},
			}
			if _, err := cs.CoreV1().Pods(benchNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("seed pods: %w", err)
	}
	return e.cluster.WaitPodRunning(ctx, benchNS, fmt.Sprintf("pod-%d", n-1))
}

// benchRules is a realistic policy of 50 rules: the example policy's kinds
// of step-up, per-team denies for other teams' namespaces, and read rules,
// none of which stops the bench's own reads (they reach the end of the
// list, the worst case for a linear matcher).
func benchRules() string {
	var sb strings.Builder
	sb.WriteString(`
- {name: prod-delete, match: {verbs: [delete], namespaces: ["prod-*"]}, action: stepUp}
- {name: pod-access-prod, match: {apiGroups: [""], resources: [pods/exec, pods/attach, pods/portforward], namespaces: ["prod-*"]}, action: stepUp, maxAge: 10m}
- {name: kube-system-secrets, match: {apiGroups: [""], resources: [secrets], namespaces: [kube-system], verbs: [get, list, watch]}, action: stepUp, maxAge: 5m}
- {name: rbac-changes, match: {apiGroups: [rbac.authorization.k8s.io], resources: [roles, clusterroles, rolebindings, clusterrolebindings], verbs: [create, update, patch, delete]}, action: stepUp}
- {name: privilege-verbs, match: {verbs: [escalate, bind, impersonate]}, action: stepUp}
`)
	for i := 0; len(strings.Split(strings.TrimSpace(sb.String()), "\n")) < 50; i++ {
		fmt.Fprintf(&sb, "- {name: team-%d-fence, match: {groups: [team-%d], namespaces: [\"team-%d-*\"], verbs: [delete, deletecollection]}, action: stepUp, maxAge: 15m}\n", i, i, i)
		fmt.Fprintf(&sb, "- {name: team-%d-no-nodes, match: {groups: [team-%d], resources: [nodes], verbs: [update, patch, delete]}, action: deny, message: team %d does not manage nodes}\n", i, i, i)
		fmt.Fprintf(&sb, "- {name: team-%d-crd-guard, match: {groups: [team-%d], apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions]}, action: stepUp}\n", i, i)
	}
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	return "\n" + strings.Join(lines[:50], "\n") + "\n"
}

// sgProc is a running stepgate server.
type sgProc struct {
	url, cfg string
	pid      int
	ca       []byte
	pprof    string // http://127.0.0.1:PORT of its --pprof listener
}

// startStepgate runs `stepgate serve` with the 50 rules.
func (e *env) startStepgate(ctx context.Context, name, throttle string) (*sgProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("apiVersion: stepgate.io/v1alpha1\nkind: StepgateConfiguration\nlisten: 127.0.0.1:%d\ndataDir: %s\n"+
		"upstream: {kubeconfig: %s}\nauth:\n  throttle: %s\nlog: {level: info}\nrules:%s",
		port, dir, e.cluster.ProxyKubeconfig, throttle, benchRules())
	cfgPath := filepath.Join(dir, "stepgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "stepgate.log"))
	if err != nil {
		return nil, err
	}
	pprofPort, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", pprofPort)
	cmd := exec.Command(e.opts.Stepgate, "serve", "--config", cfgPath, "--pprof", pprofAddr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e.procs = append(e.procs, cmd)
	p := &sgProc{url: fmt.Sprintf("https://127.0.0.1:%d", port), cfg: cfgPath, pid: cmd.Process.Pid, pprof: "http://" + pprofAddr}
	caFile := proxy.SelfSignedPaths(dir).CAFile
	if err := waitHTTPS(ctx, p.url+"/readyz", caFile); err != nil {
		return nil, fmt.Errorf("stepgate did not start (log %s): %w", logf.Name(), err)
	}
	p.ca, err = os.ReadFile(caFile)
	return p, err
}

func tlsFor(ca []byte) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{RootCAs: pool}
}

func waitHTTPS(ctx context.Context, url, caFile string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ca, err := os.ReadFile(caFile); err == nil {
			c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsFor(ca)}}
			if resp, err := c.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30s", url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepgateCLI runs an admin command against a server's store.
func (e *env) stepgateCLI(cfg, stdin string, args ...string) error {
	cmd := exec.Command(e.opts.Stepgate, append(args, "--config", cfg)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stepgate %s: %w: %s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// enrolledUser creates a user, enrolls TOTP through the API and returns
// the secret.
func (e *env) enrolledUser(ctx context.Context, cfg, url string, ca []byte, name string) (string, error) {
	if err := e.stepgateCLI(cfg, benchPass+"\n", "user", "add", name, "--groups", benchGroup, "--password-stdin"); err != nil {
		return "", err
	}
	c, err := web.NewClient(url, ca)
	if err != nil {
		return "", err
	}
	info, err := c.Login(ctx, web.LoginRequest{Username: name, Password: benchPass})
	if err != nil {
		return "", err
	}
	en, err := c.WithToken(info.Token).BeginEnrollment(ctx)
	if err != nil {
		return "", err
	}
	code, err := e.otp.Code(en.Secret, time.Now().Add(-30*time.Second))
	if err != nil {
		return "", err
	}
	if _, err := c.WithToken(info.Token).ConfirmEnrollment(ctx, code); err != nil {
		return "", err
	}
	return en.Secret, nil
}

// signIn signs name in with the current code.
func (e *env) signIn(ctx context.Context, url string, ca []byte, name, secret string) (*web.SessionInfo, time.Duration, error) {
	c, err := web.NewClient(url, ca)
	if err != nil {
		return nil, 0, err
	}
	code, err := e.otp.Code(secret, time.Now())
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	info, err := c.Login(ctx, web.LoginRequest{Username: name, Password: benchPass, Code: code})
	return info, time.Since(start), err
}

// startFloor runs the floor proxy as its own process (`stepgate bench floor`).
func (e *env) startFloor(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.dir, "floor")
	p, err := proxy.EnsureSelfSigned(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		return err
	}
	args := []string{"bench", "floor", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--kubeconfig", e.cluster.ProxyKubeconfig,
		"--cert", p.CertFile, "--key", p.KeyFile}
	for k, vs := range e.imp {
		for _, v := range vs {
			args = append(args, "--header", k+": "+v)
		}
	}
	cmd := exec.Command(e.opts.Stepgate, args...)
	logf, _ := os.Create(filepath.Join(dir, "floor.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.procs = append(e.procs, cmd)
	e.floorURL, e.floorPID = fmt.Sprintf("https://127.0.0.1:%d", port), cmd.Process.Pid
	if err := waitHTTPS(ctx, e.floorURL+"/readyz", p.CAFile); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	e.floorCA, err = os.ReadFile(p.CAFile)
	return err
}

// impersonation builds the headers stepgate sends for the session.
func impersonation(s *web.SessionInfo) http.Header {
	h := http.Header{}
	h.Set("Impersonate-User", s.User)
	h.Set("Impersonate-Uid", s.UID)
	for _, g := range s.Groups {
		h.Add("Impersonate-Group", g)
	}
	h.Set("Impersonate-Extra-"+proxy.ExtraSession, s.SessionID)
	if s.MFAAt != nil {
		h.Set("Impersonate-Extra-"+proxy.ExtraMFAAt, s.MFAAt.UTC().Format(time.RFC3339))
	}
	return h
}

func (e *env) stop() {
	for _, c := range e.procs {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
		}
	}
}
