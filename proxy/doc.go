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
//     Cookie, Forwarded, X-Forwarded-* and any
//     base64url.bearer.authorization.k8s.io.* entry of
//     Sec-WebSocket-Protocol (a token the API server would accept) are
//     dropped before stepgate sets Impersonate-User, Impersonate-Uid, one
//     Impersonate-Group per group and Impersonate-Extra-stepgate.io%2F*
//     headers. stepgate itself reads its token only from Authorization.
//   - Every request body is bounded. Upgrades (exec, attach, port-forward
//     over SPDY or WebSocket) must not carry one; they go over HTTP/1.1
//     and are spliced only when the API server answers 101 Switching
//     Protocols (CVE-2018-1002105); any other answer is relayed as a plain
//     response.
//   - Watches, log follows and upgrades are registered with the session;
//     revoking it cancels them. Before the API server answers, the client
//     gets a 401 Status. A WebSocket exec or attach that stands between
//     two frames gets a Status on the error channel and a close frame, so
//     kubectl fails with the reason; other WebSocket streams get a close
//     frame with code 1008; SPDY streams and streams cut mid-frame are
//     just closed.
//   - Every error stepgate itself returns is a metav1.Status body.
package proxy
