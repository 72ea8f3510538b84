package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Users the API server knows by static token, and the node kwok runs.
const (
	// AdminUser is in system:masters.
	AdminUser = "stepgate-admin"
	// ProxyUser has no group beyond system:authenticated; RBAC lets it
	// impersonate, and nothing else.
	ProxyUser = "stepgate-proxy"
	// NodeName is the kwok node pods run on.
	NodeName = "kwok-node-0"
)

// How long each component may take to become ready.
const (
	etcdReadyTimeout      = time.Minute
	apiserverReadyTimeout = 2 * time.Minute
	kwokReadyTimeout      = time.Minute
)

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Tools are the binaries. Nil means EnsureTools with the default
	// BuildOptions, reporting progress to Log.
	Tools *Tools
	// Dir is the working dir: certificates, tokens, kubeconfigs, etcd's
	// data, the components' logs and kwok's files. It is created if
	// missing, should be empty, and is kept after Stop. Empty means a new
	// temporary dir that Stop removes.
	Dir string
	// Log receives a few progress lines. Nil discards them.
	Log io.Writer
}

// Cluster is a running control plane on loopback: etcd, kube-apiserver and
// kwok acting as the kubelet of one node. Its fields are set by Start and
// must not be changed.
type Cluster struct {
	// Dir is the working dir (see Options.Dir).
	Dir string
	// Server is the API server's URL, https://127.0.0.1:PORT.
	Server string
	// CAData is the PEM of the CA that signed the API server's (and
	// kwok's) serving certificate; CAFile holds the same.
	CAData []byte
	CAFile string
	// AdminToken authenticates AdminUser, ProxyToken ProxyUser.
	AdminToken string
	ProxyToken string
	// AdminKubeconfig and ProxyKubeconfig are kubeconfig files for
	// AdminUser and ProxyUser, with token authentication.
	AdminKubeconfig string
	ProxyKubeconfig string
	// NodeName is the node kwok runs; pods must name it in spec.nodeName
	// (no scheduler runs).
	NodeName string
	// ExecDir is the working dir of the local shell `kubectl exec` runs in
	// every container.
	ExecDir string
	// LogsFile is served, in CRI log format, as every container's log.
	// AppendLog adds lines, which `kubectl logs -f` shows.
	LogsFile string
	// AttachFile is streamed to `kubectl attach` (CRI log format); attach
	// shows only lines appended after it connects (AppendAttach).
	AttachFile string
	// EchoPort is the port of a loopback TCP echo server; every pod port
	// forwards to it.
	EchoPort int
	// Tools are the binaries the cluster runs; Tools.Kubectl is the
	// matching kubectl.
	Tools *Tools

	log      io.Writer
	ownDir   bool
	spawner  *spawner
	procs    []*proc
	echo     *echoServer
	stopOnce sync.Once
}

// Start brings up etcd, kube-apiserver and kwok on free loopback ports,
// creates what a controller manager would have created (the default
// service account) and the proxy user's RBAC, and registers a Ready node.
// ctx bounds the start only; the cluster runs until Stop. On failure,
// everything started is stopped again and the error carries the tail of
// the failing component's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	tools := opts.Tools
	if tools == nil {
		var err error
		if tools, err = EnsureTools(ctx, BuildOptions{Progress: logw}); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Tools: tools, log: logw, Dir: opts.Dir, NodeName: NodeName}
	if c.Dir == "" {
		dir, err := os.MkdirTemp("", "stepgate-cluster-")
		if err != nil {
			return nil, fmt.Errorf("create working dir: %w", err)
		}
		c.Dir, c.ownDir = dir, true
	} else if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create working dir: %w", err)
	}
	c.spawner = newSpawner()
	start := time.Now()
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	fmt.Fprintf(c.log, "harness: cluster ready at %s in %s (dir %s)\n", c.Server, time.Since(start).Round(100*time.Millisecond), c.Dir)
	return c, nil
}

// start runs the components in order, each waiting for the one before.
func (c *Cluster) start(ctx context.Context) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiserverPort, kwokPort := ports[0], ports[1], ports[2], ports[3]
	pk, err := newPKI(c.Dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	c.CAData, c.CAFile = pk.caPEM, pk.caFile
	if err := c.startEtcd(ctx, etcdClient, etcdPeer); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, pk, etcdClient, apiserverPort); err != nil {
		return err
	}
	if err := c.bootstrap(ctx); err != nil {
		return err
	}
	return c.startKwok(ctx, pk, kwokPort)
}

// Stop stops everything Start started, newest first (SIGTERM, then SIGKILL
// after a few seconds), and removes the working dir if Start made it. It
// is safe to call more than once, and from more than one goroutine.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(stopGrace)
		}
		if c.echo != nil {
			c.echo.close()
		}
		c.spawner.stop()
		if c.ownDir {
			_ = os.RemoveAll(c.Dir)
		}
	})
}

// PID returns the process id of a component the cluster started ("etcd",
// "kube-apiserver" or "kwok"), or 0.
func (c *Cluster) PID(component string) int {
	for _, p := range c.procs {
		if p.name == component && p.cmd.Process != nil {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

func (c *Cluster) startEtcd(ctx context.Context, clientPort, peerPort int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.startProc("etcd", []string{c.Tools.Etcd,
		"--name", "harness", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "harness=" + peer,
		// A test cluster's data need not survive a power cut.
		"--unsafe-no-fsync",
		"--log-level", "warn",
	}, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, p, etcdReadyTimeout, func(ctx context.Context) error {
		return getOK(ctx, hc, client+"/health", "")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, pk *pki, etcdPort, port int) error {
	var err error
	if c.AdminToken, err = newToken(); err != nil {
		return err
	}
	if c.ProxyToken, err = newToken(); err != nil {
		return err
	}
	// token,user,uid,"group1,group2"
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s\n",
		c.AdminToken, AdminUser, AdminUser, c.ProxyToken, ProxyUser, ProxyUser)
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	p, err := c.startProc("kube-apiserver", []string{c.Tools.KubeAPIServer,
		"--etcd-servers", "http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--tls-cert-file", pk.apiserverCert, "--tls-private-key-file", pk.apiserverKey,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pk.saPub, "--service-account-signing-key-file", pk.saKey,
		"--token-auth-file", tokenFile,
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller manager creates a service account in each new
		// namespace, so this plugin would refuse every pod outside
		// "default"; pods here need no token.
		"--disable-admission-plugins", "ServiceAccount",
		// kwok serves the kubelet API of the node at its InternalIP
		// (127.0.0.1); the node's name does not resolve. Its certificate
		// is signed by the cluster CA, so the API server verifies it.
		"--kubelet-preferred-address-types", "InternalIP",
		"--kubelet-certificate-authority", pk.caFile,
		// A loopback address cannot be the endpoint of the kubernetes
		// Service, and nothing here needs that endpoint.
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
	}, nil)
	if err != nil {
		return err
	}
	hc, err := c.httpClient()
	if err != nil {
		return err
	}
	return waitFor(ctx, p, apiserverReadyTimeout, func(ctx context.Context) error {
		return getOK(ctx, hc, c.Server+"/readyz", c.AdminToken)
	})
}

// httpClient trusts the cluster CA.
func (c *Cluster) httpClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAData) {
		return nil, errors.New("the cluster ca is not valid pem")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// getOK GETs url (with a bearer token if one is given) and wants a 200.
func getOK(ctx context.Context, hc *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, body)
	}
	return nil
}

// waitFor polls check until it succeeds, the process exits, limit passes
// or ctx ends. The errors carry the tail of the process's log.
func waitFor(ctx context.Context, p *proc, limit time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited before it was ready (%v)\n%s", p.name, p.waitErr, p.tail())
		}
		select {
		case <-ctx.Done():
			if !p.running() {
				return fmt.Errorf("%s exited before it was ready (%v)\n%s", p.name, p.waitErr, p.tail())
			}
			return fmt.Errorf("%s not ready (waited up to %s): %w; last check: %v\n%s", p.name, limit, ctx.Err(), last, p.tail())
		case <-p.exited:
		case <-tick.C:
		}
	}
}
