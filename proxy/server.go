package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"stepgate.io/stepgate/internal/apistatus"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Addr is host:port to listen on; port 0 picks a free one.
	Addr string
	// TLS holds the serving certificate; HTTP/2 is offered through it.
	TLS *tls.Config
	// Kubernetes serves every path that is not stepgate's own (a *Handler).
	Kubernetes http.Handler
	// Auth serves /stepgate/ and /ui/ (the web package).
	Auth http.Handler
	// Ready reports readiness for /readyz; nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil means 404.
	Metrics           http.Handler
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// ShutdownGrace is how long Serve waits for requests to finish once
	// its context ends. Default 10s.
	ShutdownGrace time.Duration
	Logger        *zap.Logger
}

// Server is stepgate's HTTPS listener.
type Server struct {
	ln    net.Listener
	srv   *http.Server
	grace time.Duration
	log   *zap.Logger
	// base is the context every request derives from; cancelling it ends
	// streams (which Shutdown does not wait for) once the grace is over.
	cancelBase context.CancelFunc
}

// Listen opens the listener at once, so Addr is known before Serve.
func Listen(opts ServerOptions) (*Server, error) {
	if opts.TLS == nil || opts.Kubernetes == nil || opts.Auth == nil {
		return nil, errors.New("proxy: server needs TLS, a Kubernetes handler and an auth handler")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	tcfg := opts.TLS.Clone()
	if len(tcfg.NextProtos) == 0 {
		tcfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if tcfg.MinVersion == 0 {
		tcfg.MinVersion = tls.VersionTLS12
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, grace: opts.ShutdownGrace, log: log.Named("server"), cancelBase: cancel}
	if s.grace <= 0 {
		s.grace = 10 * time.Second
	}
	s.srv = &http.Server{
		Handler:           &router{opts: opts},
		TLSConfig:         tcfg,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ErrorLog:          zap.NewStdLog(log.Named("http").WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends, then shuts down gracefully: new connections
// stop at once, requests get ShutdownGrace to finish, and streams still
// open after that are cut.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeTLS(s.ln, "", "") }()
	select {
	case err := <-errc:
		s.cancelBase()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.grace)
	defer cancel()
	s.srv.RegisterOnShutdown(s.cancelBase) // hijacked streams are not tracked by Shutdown
	err := s.srv.Shutdown(sctx)
	s.cancelBase()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// router sends each path to its owner without cleaning it (ServeMux would
// redirect dot segments, which the Kubernetes handler must refuse instead).
type router struct{ opts ServerOptions }

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/stepgate/") || p == "/ui" || strings.HasPrefix(p, "/ui/"):
		rt.opts.Auth.ServeHTTP(w, r)
	case p == "/healthz" || p == "/livez":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	case p == "/readyz":
		rt.ready(w, r)
	case p == "/metrics" && rt.opts.Metrics != nil && fromLoopback(r):
		// Activity counts are not for the internet: loopback only (a
		// sidecar or node agent scrapes them).
		rt.opts.Metrics.ServeHTTP(w, r)
	default:
		rt.opts.Kubernetes.ServeHTTP(w, r)
	}
}

func (rt *router) ready(w http.ResponseWriter, r *http.Request) {
	if rt.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := rt.opts.Ready(ctx); err != nil {
			apistatus.Error(w, http.StatusServiceUnavailable, "stepgate is not ready: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
