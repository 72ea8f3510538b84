package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// Impersonation extras stepgate sets, as header-name suffixes (the "/" of
// the extra key is percent-encoded, as Kubernetes requires).
const (
	ExtraSession = "stepgate.io%2Fsession"
	ExtraMFAAt   = "stepgate.io%2Fmfa-at"
	ExtraStepUp  = "stepgate.io%2Fstep-up"
)

// upstream returns the API server URL and the round tripper to reach it.
func upstream(opts Options) (*url.URL, http.RoundTripper, error) {
	if opts.Transport != nil && opts.UpstreamURL != "" {
		u, err := url.Parse(opts.UpstreamURL)
		if err != nil {
			return nil, nil, fmt.Errorf("proxy: upstream url: %w", err)
		}
		return u, opts.Transport, nil
	}
	if opts.Upstream == nil {
		return nil, nil, errors.New("proxy: an upstream rest.Config is required")
	}
	host := opts.Upstream.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("proxy: upstream host %q is not a URL", opts.Upstream.Host)
	}
	rt, err := NewUpstreamTransport(opts.Upstream)
	if err != nil {
		return nil, nil, err
	}
	return u, rt, nil
}

// NewUpstreamTransport builds the proxy's credentials into two transports
// from one rest.Config: HTTP/2 for ordinary requests, and HTTP/1.1 for
// upgrades, which HTTP/2 cannot carry. Both authenticate as the proxy.
func NewUpstreamTransport(cfg *rest.Config) (http.RoundTripper, error) {
	tc, err := cfg.TransportConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: transport config: %w", err)
	}
	tlsCfg, err := transport.TLSConfigFor(tc)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream tls: %w", err)
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	base := func(tc *tls.Config) *http.Transport {
		return &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	h2 := base(tlsCfg.Clone())
	h2.ForceAttemptHTTP2 = true
	h1cfg := tlsCfg.Clone()
	h1cfg.NextProtos = []string{"http/1.1"}
	h1 := base(h1cfg)
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // never HTTP/2
	wrapped2, err := transport.HTTPWrappersForConfig(tc, h2)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream credentials: %w", err)
	}
	wrapped1, err := transport.HTTPWrappersForConfig(tc, h1)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream credentials: %w", err)
	}
	return &splitTransport{h2: wrapped2, h1: wrapped1}, nil
}

// splitTransport sends upgrades over HTTP/1.1 and the rest over HTTP/2.
type splitTransport struct{ h1, h2 http.RoundTripper }

func (t *splitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Upgrade") != "" {
		return t.h1.RoundTrip(r)
	}
	return t.h2.RoundTrip(r)
}

// rewrite turns the client's request into the upstream one. ReverseProxy
// has already removed hop-by-hop headers, those named by Connection, and
// Forwarded/X-Forwarded-*; rewrite removes the client's credentials
// (Authorization, Cookie, a bearer token in Sec-WebSocket-Protocol) and
// any impersonation (ServeHTTP refused requests carrying some, this is
// belt and braces), then sets stepgate's.
func rewrite(pr *httputil.ProxyRequest, target *url.URL) {
	pr.SetURL(target)
	pr.Out.Host = ""
	h := pr.Out.Header
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
	stripBearerProtocols(h) // a token the API server would read from a WebSocket subprotocol
	for k := range h {
		if hasPrefixFold(k, "impersonate-") || hasPrefixFold(k, "x-forwarded-") {
			delete(h, k)
		}
	}
	f, ok := pr.In.Context().Value(fwdKey{}).(*forward)
	if !ok { // cannot happen: ServeHTTP always sets it; never forward unidentified
		panic(http.ErrAbortHandler)
	}
	setImpersonation(h, f)
}

func setImpersonation(h http.Header, f *forward) {
	p := f.p
	h["Impersonate-User"] = []string{p.User}
	h["Impersonate-Uid"] = []string{p.UID}
	if len(p.Groups) > 0 {
		h["Impersonate-Group"] = p.Groups
	}
	h["Impersonate-Extra-"+ExtraSession] = []string{p.SessionID}
	if !p.MFAAt.IsZero() {
		h["Impersonate-Extra-"+ExtraMFAAt] = []string{p.MFAAt.UTC().Format(time.RFC3339)}
	}
	if f.stepUpRule != "" {
		h["Impersonate-Extra-"+ExtraStepUp] = []string{f.stepUpRule}
	}
	h["Audit-Id"] = []string{f.auditID}
}

// bearerProtocolPrefix marks a Sec-WebSocket-Protocol entry that carries a
// bearer token for the API server (browsers cannot set Authorization on a
// WebSocket).
const bearerProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// stripBearerProtocols removes token-carrying entries from the
// Sec-WebSocket-Protocol header and keeps the others in order.
func stripBearerProtocols(h http.Header) {
	for key, vals := range h {
		if strings.EqualFold(key, "Sec-Websocket-Protocol") {
			h[key] = withoutBearer(vals)
			if len(h[key]) == 0 {
				delete(h, key)
			}
		}
	}
}

func withoutBearer(vals []string) []string {
	var out []string
	for _, v := range vals {
		var keep []string
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p != "" && !hasPrefixFold(p, bearerProtocolPrefix) {
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			out = append(out, strings.Join(keep, ", "))
		}
	}
	return out
}

// hasPrefixFold reports whether s begins with prefix, ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
