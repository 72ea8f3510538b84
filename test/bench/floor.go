package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"stepgate.io/stepgate/proxy"
)

// FloorOptions configure the floor proxy.
type FloorOptions struct {
	Listen     string // host:port
	Kubeconfig string // the proxy's own upstream credentials
	CertFile   string
	KeyFile    string
	// Headers are set on every request (the impersonation headers).
	Headers http.Header
}

// RunFloor serves a bare reverse proxy until ctx ends: it removes the
// client's Authorization, sets the static headers, and forwards with the
// proxy's own client-go credentials over the same transports stepgate uses.
// It authenticates nobody and decides nothing; it is the floor.
func RunFloor(ctx context.Context, opts FloorOptions) error {
	rc, err := clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	if err != nil {
		return err
	}
	rt, err := proxy.NewUpstreamTransport(rc)
	if err != nil {
		return err
	}
	target, err := url.Parse(rc.Host)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = ""
			pr.Out.Header.Del("Authorization")
			for k, v := range opts.Headers {
				pr.Out.Header[k] = v
			}
		},
		Transport:     rt,
		FlushInterval: -1,
	}
	cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("floor: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	srv.Close()
	return nil
}
