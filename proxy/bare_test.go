package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

func newBareProxy(target *url.URL, rt http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Set("Impersonate-User", "bench")
			pr.Out.Header.Set("Impersonate-Group", "readers")
		},
		Transport: rt, FlushInterval: -1,
	}
}
