// Package proxy is stepgate's hot path: it terminates TLS, authenticates
// each Kubernetes API request, works out what the request does, asks the
// rules for a decision, and forwards what is allowed to the API server
// under stepgate's own credentials with impersonation headers.
//
// Security model, in the order a request meets it:
//
//   - Only a stepgate session or service token authenticates a request. The
//     client's Authorization header never travels upstream; the upstream
//     credential comes from client-go's transport for the proxy's own
//     rest.Config.
//   - A request carrying any Impersonate-* header is refused with 403. It is
//     never stripped silently: the person would believe they had acted as
//     someone else.
//   - What a request does is taken from k8s.io/apiserver's
//     RequestInfoFactory, the same parser the API server uses, after
//     refusing paths that are not canonical (dot segments, empty segments,
//     encoded slashes) and methods that are not canonical HTTP methods, so
//     stepgate and the API server cannot disagree about the target.
//     Exec, attach and port-forward are the same action (create on the
//     subresource) whether they arrive as POST or as a WebSocket GET.
//   - Hop-by-hop headers, headers named by Connection, Authorization,
//     Cookie, Forwarded and X-Forwarded-* are dropped before stepgate sets
//     Impersonate-User, Impersonate-Uid, one Impersonate-Group per group and
//     Impersonate-Extra-stepgate.io%2F* headers.
//   - Upgrades (exec, attach, port-forward over SPDY or WebSocket) go over
//     HTTP/1.1 and are spliced only when the API server answers 101
//     Switching Protocols (CVE-2018-1002105); any other answer is relayed
//     as a plain response.
//   - Every error stepgate itself returns is a metav1.Status body.
package proxy
