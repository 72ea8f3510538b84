package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"stepgate.io/stepgate/config"
	"stepgate.io/stepgate/proxy"
	"stepgate.io/stepgate/web"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "serve [--config FILE] [flags]",
		"Runs stepgate: HTTPS on the configured address, Kubernetes API requests forwarded to the upstream\n"+
			"API server under impersonation, the sign-in API under /stepgate/v1/. Without --config the built-in\n"+
			"defaults apply: a self-signed certificate and a SQLite store in the data dir, and the upstream from\n"+
			"in-cluster config or the usual kubeconfig ($KUBECONFIG, ~/.kube/config).")
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "address to listen on, overriding the config (e.g. :8443)")
	dataDir := fs.String("data-dir", "", "data dir, overriding the config")
	kubeconfig := fs.String("kubeconfig", "", "upstream kubeconfig, overriding the config")
	kubeContext := fs.String("context", "", "context in the upstream kubeconfig")
	pprofAddr := fs.String("pprof", "", "also serve Go's pprof profiles on this loopback address (e.g. 127.0.0.1:6060), for performance work")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	applyOverrides(cfg, *listen, *dataDir, *kubeconfig, *kubeContext)
	if errs := cfg.Validate(); len(errs) > 0 {
		return errs.ToAggregate()
	}
	log, err := newLogger(e, cfg)
	if err != nil {
		return err
	}
	defer log.Sync()
	upstream, err := upstreamConfig(cfg, log)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, e, cfg, log, upstream)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *pprofAddr != "" {
		addr, err := startPprof(ctx, *pprofAddr, log)
		if err != nil {
			return err
		}
		log.Info("pprof serving", zap.String("address", addr.String()))
	}
	log.Info("stepgate serving", zap.String("address", srv.Addr().String()), zap.String("upstream", upstream.Host),
		zap.Int("rules", len(cfg.Rules)), zap.String("version", version))
	return srv.Run(ctx)
}

func applyOverrides(cfg *config.Configuration, listen, dataDir, kubeconfig, kubeContext string) {
	if listen != "" {
		cfg.Listen = listen
	}
	if dataDir != "" {
		old := cfg.DataDir
		cfg.DataDir = dataDir
		// Paths that defaulted into the old data dir follow it.
		for _, p := range []*string{&cfg.Store.Path, &cfg.Auth.MFA.SecretKeyFile} {
			if rel, err := relTo(old, *p); err == nil {
				*p = dataDir + string(os.PathSeparator) + rel
			}
		}
	}
	if kubeconfig != "" {
		cfg.Upstream.Kubeconfig, cfg.Upstream.InCluster = kubeconfig, false
	}
	if kubeContext != "" {
		cfg.Upstream.Context = kubeContext
	}
}

// upstreamConfig builds the proxy's own client configuration.
func upstreamConfig(cfg *config.Configuration, log *zap.Logger) (*rest.Config, error) {
	u := cfg.Upstream
	if u.InCluster || (u.Kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "") {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("upstream in-cluster config: %w", err)
		}
		return rc, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if u.Kubeconfig != "" {
		rules.ExplicitPath = u.Kubeconfig
	} else {
		log.Info("no upstream configured; using the default kubeconfig", zap.Strings("precedence", rules.GetLoadingPrecedence()))
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: u.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("upstream kubeconfig: %w (set upstream.kubeconfig in the config, or try stepgate demo)", err)
	}
	rc.UserAgent = "stepgate/" + version
	return rc, nil
}

// server is a running stepgate: the stack plus listener.
type server struct {
	*stack
	srv    *proxy.Server
	api    *web.API
	caFile string // set when the certificate is self-signed
}

// startServer builds everything and opens the listener; Run serves.
func startServer(ctx context.Context, e *env, cfg *config.Configuration, log *zap.Logger, upstream *rest.Config) (*server, error) {
	st, err := openStack(ctx, e, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &server{stack: st}
	tlsCfg, caFile, err := servingTLS(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.caFile = caFile
	metrics := &proxy.Metrics{}
	h, err := proxy.New(proxy.Options{Sessions: st.mgr, Rules: st.rules, Upstream: upstream, Logger: log, Metrics: metrics})
	if err != nil {
		st.Close()
		return nil, err
	}
	s.api, err = web.New(web.Options{
		Sessions: st.mgr, MaxBodyBytes: cfg.Limits.MaxAuthBodyBytes,
		AttemptsPerMinute: cfg.Auth.Throttle.AttemptsPerMinute, Burst: cfg.Auth.Throttle.Burst, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	ready, err := upstreamReady(upstream)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.srv, err = proxy.Listen(proxy.ServerOptions{
		Addr: cfg.Listen, TLS: tlsCfg, Kubernetes: h, Auth: s.api, Ready: ready, Metrics: metrics,
		MaxHeaderBytes: cfg.Limits.MaxHeaderBytes, ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout.Duration,
		IdleTimeout: cfg.Limits.IdleTimeout.Duration, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// Addr is where the server listens.
func (s *server) Addr() net.Addr { return s.srv.Addr() }

// URL is an https URL for reaching the server from this machine.
func (s *server) URL() string {
	host, port, _ := net.SplitHostPort(s.srv.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// Run serves until ctx ends, keeping the session cache in step meanwhile.
func (s *server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mgrErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if mgrErr = s.mgr.Run(ctx); mgrErr != nil {
			cancel()
		}
	}()
	err := s.srv.Serve(ctx)
	cancel()
	wg.Wait()
	return errors.Join(err, mgrErr)
}

func servingTLS(cfg *config.Configuration) (*tls.Config, string, error) {
	if cfg.TLS.CertFile != "" {
		t, err := proxy.LoadServingTLS(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		return t, "", err
	}
	p, err := proxy.EnsureSelfSigned(cfg.DataDir, cfg.TLS.Hosts, time.Now())
	if err != nil {
		return nil, "", err
	}
	t, err := proxy.LoadServingTLS(p.CertFile, p.KeyFile)
	return t, p.CAFile, err
}

// upstreamReady checks the API server's /readyz as the proxy, at most once
// a second.
func upstreamReady(rc *rest.Config) (func(context.Context) error, error) {
	rt, err := rest.TransportFor(rc)
	if err != nil {
		return nil, fmt.Errorf("upstream transport: %w", err)
	}
	client := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	var (
		mu      sync.Mutex
		last    time.Time
		lastErr error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			return lastErr
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.Host+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		last = time.Now()
		if err != nil {
			lastErr = fmt.Errorf("upstream API server unreachable")
			return lastErr
		}
		resp.Body.Close()
		lastErr = nil
		if resp.StatusCode != http.StatusOK {
			lastErr = fmt.Errorf("upstream API server answered /readyz with %d", resp.StatusCode)
		}
		return lastErr
	}, nil
}
