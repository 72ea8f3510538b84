package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Users the API server knows by static token.
const (
	AdminUser = "stepgate-admin" // in system:masters
	ProxyUser = "stepgate-proxy" // may only impersonate
	NodeName  = "kwok-node-0"
)

// Options configure Start.
type Options struct {
	// Tools are the binaries; required (see EnsureTools).
	Tools *Tools
	// Dir is the working dir; default a new temp dir, removed on Stop.
	Dir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running control plane.
type Cluster struct {
	Dir    string
	Server string // https://127.0.0.1:PORT
	CAData []byte
	CAFile string

	AdminToken, ProxyToken           string
	AdminKubeconfig, ProxyKubeconfig string

	NodeName string
	// ExecDir is where `kubectl exec` runs its shell.
	ExecDir string
	// LogsFile is served as every container's log (CRI format); append
	// lines (AppendLog) for logs -f.
	LogsFile string
	// AttachFile is streamed to attach; lines written after attaching show.
	AttachFile string
	// EchoPort is the local echo listener every pod port forwards to.
	EchoPort int
	Tools    *Tools

	log      io.Writer
	ownDir   bool
	spawner  *spawner
	procs    []*proc
	echo     net.Listener
	stopOnce sync.Once
}

// Start brings up etcd, kube-apiserver and kwok, and prepares RBAC and a
// kwok node. On failure everything started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Tools == nil {
		return nil, errors.New("harness: Options.Tools is required")
	}
	c := &Cluster{Tools: opts.Tools, log: opts.Log, Dir: opts.Dir, NodeName: NodeName, spawner: newSpawner()}
	if c.log == nil {
		c.log = io.Discard
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "stepgate-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	start := time.Now()
	ports, err := freePorts(5) // etcd client, etcd peer, apiserver, kwok, (spare)
	if err != nil {
		return nil, err
	}
	if err := c.startEtcd(ctx, ports[0], ports[1]); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, ports[0], ports[2]); err != nil {
		return nil, err
	}
	if err := c.prepareAPI(ctx); err != nil {
		return nil, err
	}
	if err := c.startKwok(ctx, ports[3]); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.log, "harness: cluster ready at %s in %s (dir %s)\n", c.Server, time.Since(start).Round(100*time.Millisecond), c.Dir)
	return c, nil
}

// Stop stops everything Start started, newest first, and removes the
// working dir if Start made it. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(5 * time.Second)
		}
		if c.echo != nil {
			c.echo.Close()
		}
		c.spawner.stop()
		if c.ownDir {
			os.RemoveAll(c.Dir)
		}
	})
}

func (c *Cluster) startEtcd(ctx context.Context, clientPort, peerPort int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.startProc("etcd", []string{c.Tools.Etcd,
		"--name", "default", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer, "--unsafe-no-fsync", "--log-level", "warn",
	}, nil)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, func() error {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %d", resp.StatusCode)
		}
		return nil
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, etcdPort, port int) error {
	pk, err := newPKI(c.Dir)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	c.CAData, c.CAFile = pk.caPEM, pk.caFile
	c.AdminToken, c.ProxyToken = randomToken(), randomToken()
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s\n", c.AdminToken, AdminUser, AdminUser, c.ProxyToken, ProxyUser, ProxyUser)
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	p, err := c.startProc("kube-apiserver", []string{c.Tools.KubeAPIServer,
		"--etcd-servers", "http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--tls-cert-file", pk.serverCert, "--tls-private-key-file", pk.serverKey, "--cert-dir", filepath.Join(c.Dir, "apiserver-certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pk.saPub, "--service-account-signing-key-file", pk.saKey,
		"--token-auth-file", tokenFile, "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller manager runs, so nothing would create service
		// accounts in new namespaces; pods do not need one here.
		"--disable-admission-plugins", "ServiceAccount",
		// kwok answers for the node on loopback; its name does not resolve.
		"--kubelet-preferred-address-types", "InternalIP",
		// Loopback cannot be advertised as the kubernetes Service endpoint;
		// nothing in the harness needs that endpoint.
		"--endpoint-reconciler-type", "none",
		"--profiling=false", "--v=1",
	}, nil)
	if err != nil {
		return err
	}
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 90*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}

func (c *Cluster) httpClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAData) {
		return nil, errors.New("harness: bad CA")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// waitFor polls check until it succeeds, the process exits or time runs out.
func waitFor(ctx context.Context, p *proc, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited (%v) before it was ready\n%s", p.name, p.waitErr, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v\n%s", p.name, limit, last, p.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// prepareAPI writes kubeconfigs and creates what a controller manager
// would have: the default service account, and the proxy's RBAC.
func (c *Cluster) prepareAPI(ctx context.Context) error {
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	c.ProxyKubeconfig = filepath.Join(c.Dir, "proxy.kubeconfig")
	if err := writeKubeconfig(c.AdminKubeconfig, c.Server, c.CAData, AdminUser, c.AdminToken); err != nil {
		return err
	}
	if err := writeKubeconfig(c.ProxyKubeconfig, c.Server, c.CAData, ProxyUser, c.ProxyToken); err != nil {
		return err
	}
	cs, err := c.AdminClient()
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("default service account: %w", err)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "stepgate-impersonator"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
			// RBAC has no "userextras/*" wildcard: each extra key is named.
			{APIGroups: []string{"authentication.k8s.io"}, Resources: ImpersonatorExtraResources(), Verbs: []string{"impersonate"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("impersonator role: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "stepgate-impersonator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: ProxyUser}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("impersonator binding: %w", err)
	}
	return nil
}

// ImpersonatorExtraResources are the RBAC resources for the extras
// stepgate sends (userextras/<key>, one per key) and uids.
func ImpersonatorExtraResources() []string {
	return []string{"uids", "userextras/stepgate.io/session", "userextras/stepgate.io/mfa-at", "userextras/stepgate.io/step-up"}
}

// AdminRESTConfig is a client configuration as the cluster admin.
func (c *Cluster) AdminRESTConfig() *rest.Config {
	return &rest.Config{Host: c.Server, BearerToken: c.AdminToken, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData}, QPS: 100, Burst: 200}
}

// AdminClient is a clientset as the cluster admin.
func (c *Cluster) AdminClient() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.AdminRESTConfig())
}

func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "apiVersion: v1\nkind: Config\nclusters:\n- name: harness\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n",
		server, b64(ca))
	fmt.Fprintf(&sb, "users:\n- name: %s\n  user:\n    token: %s\ncontexts:\n- name: harness\n  context:\n    cluster: harness\n    user: %s\ncurrent-context: harness\n",
		user, token, user)
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}
