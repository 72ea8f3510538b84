package proxy

import (
	"errors"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	genericrequest "k8s.io/apiserver/pkg/endpoints/request"

	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// Errors that make a request unfit to be decided on.
var (
	errPath   = errors.New("the request path is not canonical: dot segments, empty segments and encoded slashes are refused")
	errMethod = errors.New("the request method is not supported")
)

// newRequestInfoFactory returns the parser the API server itself uses.
func newRequestInfoFactory() *genericrequest.RequestInfoFactory {
	return &genericrequest.RequestInfoFactory{
		APIPrefixes:          sets.NewString("api", "apis"),
		GrouplessAPIPrefixes: sets.NewString("api"),
	}
}

// canonicalMethod reports whether m is one of the methods the API server
// serves, spelled as it expects (upper case).
func canonicalMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// checkPath refuses paths the rules and the API server might read
// differently: anything with "." or ".." segments, empty segments (double
// slashes; a single trailing slash is fine, the parser ignores it), or an
// encoded slash or percent sign.
func checkPath(r *http.Request) error {
	p := r.URL.Path
	if p == "" || p[0] != '/' {
		return errPath
	}
	if raw := r.URL.RawPath; raw != "" {
		lower := strings.ToLower(raw)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			return errPath
		}
	}
	// A '%' left after decoding was encoded as %25: no Kubernetes name
	// holds one, and a second decoder might read it differently.
	if strings.ContainsRune(p, '%') {
		return errPath
	}
	rest := p[1:]
	for rest != "" {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, '\\') {
			return errPath
		}
		if more && tail == "" {
			break // one trailing slash
		}
		rest = tail
	}
	return nil
}

// connectSubresources are the pod subresources that open a stream; the API
// server authorizes them as create whatever the HTTP method.
func isConnectSubresource(resource, sub string) bool {
	return resource == "pods" && (sub == "exec" || sub == "attach" || sub == "portforward")
}

// Attributes parses r into rule attributes for principal p exactly as the
// proxy does, for tools such as `stepgate rules explain`.
func Attributes(r *http.Request, p *session.Principal) (rules.Attributes, error) {
	a, _, err := attributes(newRequestInfoFactory(), r, p)
	return a, err
}

// attributes parses r into rule attributes for principal p.
func (h *Handler) attributes(r *http.Request, p *session.Principal) (rules.Attributes, *genericrequest.RequestInfo, error) {
	return attributes(h.infoFactory, r, p)
}

func attributes(f *genericrequest.RequestInfoFactory, r *http.Request, p *session.Principal) (rules.Attributes, *genericrequest.RequestInfo, error) {
	if !canonicalMethod(r.Method) {
		return rules.Attributes{}, nil, errMethod
	}
	if err := checkPath(r); err != nil {
		return rules.Attributes{}, nil, err
	}
	info, err := f.NewRequestInfo(r)
	if err != nil {
		return rules.Attributes{}, nil, errPath
	}
	a := rules.Attributes{
		User: p.User, Groups: p.Groups, Machine: p.Machine, ResourceRequest: info.IsResourceRequest,
		Verb: info.Verb, APIGroup: info.APIGroup, Resource: info.Resource, Subresource: info.Subresource,
		Namespace: info.Namespace, Name: info.Name, Path: info.Path,
	}
	if info.IsResourceRequest && isConnectSubresource(info.Resource, info.Subresource) {
		a.Verb = "create"
	}
	return a, info, nil
}

// stepUpRequest is what a step-up grant binds to.
func stepUpRequest(a *rules.Attributes) session.Request {
	r := session.Request{Verb: a.Verb}
	if a.ResourceRequest {
		r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name = a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name
	} else {
		r.Path = a.Path
	}
	return r
}

// isUpgrade reports whether r asks to switch protocols.
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
