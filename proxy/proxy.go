package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"go.uber.org/zap"
	genericrequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"

	"stepgate.io/stepgate/internal/apistatus"
	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// Sessions is what the proxy needs from the session package.
type Sessions interface {
	Authenticate(ctx context.Context, token string) (*session.Principal, error)
	StepUpSatisfied(ctx context.Context, p *session.Principal, rule string, maxAge time.Duration, req session.Request) (bool, error)
	Challenge(ctx context.Context, p *session.Principal, rule string, maxAge time.Duration, req session.Request, description string) (*session.Challenge, error)
	TrackStream(sessionID string, cancel context.CancelFunc) (release func())
}

// Decider decides a request; *rules.Set is one.
type Decider interface {
	Decide(a *rules.Attributes) rules.Decision
}

// Options configure a Handler.
type Options struct {
	// Sessions authenticates requests and keeps step-up state. Required.
	Sessions Sessions
	// Rules decides requests; nil allows everything that authenticates.
	Rules Decider
	// Upstream is the proxy's own client configuration for the API server.
	// Required unless Transport and UpstreamURL are both set.
	Upstream *rest.Config
	// Transport and UpstreamURL override what Upstream would give (tests).
	Transport   http.RoundTripper
	UpstreamURL string
	// MaxBodyBytes bounds a request body. Default 16 MiB.
	MaxBodyBytes int64
	// Metrics, when set, counts decisions and open streams.
	Metrics *Metrics
	Logger  *zap.Logger
	Clock   func() time.Time
}

// Handler serves the Kubernetes API paths: authenticate, decide, forward.
type Handler struct {
	sessions Sessions
	rules    Decider
	// rp forwards ordinary requests; rpStream forwards watches, log
	// follows and upgrades with smaller copy buffers, since a blocked
	// stream holds its buffer for as long as it stays open.
	rp, rpStream *httputil.ReverseProxy
	infoFactory  *genericrequest.RequestInfoFactory
	maxBody      int64
	log          *zap.Logger
	audit        *zap.Logger
	now          func() time.Time
	ids          *idSource
	metrics      *Metrics
}

var _ http.Handler = (*Handler)(nil)

// New builds a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Sessions == nil {
		return nil, errors.New("proxy: sessions are required")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{
		sessions: opts.Sessions, rules: opts.Rules, infoFactory: newRequestInfoFactory(),
		maxBody: opts.MaxBodyBytes, log: log.Named("proxy"), audit: log.Named("audit"), now: opts.Clock,
		ids: newIDSource(), metrics: opts.Metrics,
	}
	if h.maxBody <= 0 {
		h.maxBody = 16 << 20
	}
	if h.now == nil {
		h.now = time.Now
	}
	target, rt, err := upstream(opts)
	if err != nil {
		return nil, err
	}
	newRP := func(bufSize int) *httputil.ReverseProxy {
		return &httputil.ReverseProxy{
			Rewrite:        func(pr *httputil.ProxyRequest) { rewrite(pr, target) },
			Transport:      rt,
			FlushInterval:  -1, // watches and logs -f must reach the client at once
			ModifyResponse: h.modifyResponse,
			ErrorHandler:   h.upstreamError,
			ErrorLog:       zap.NewStdLog(h.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
			BufferPool:     newBufferPool(bufSize),
		}
	}
	h.rp, h.rpStream = newRP(32<<10), newRP(4<<10)
	return h, nil
}

// fwdKey carries a *forward through the request context to Rewrite,
// ModifyResponse and ErrorHandler.
type fwdKey struct{}

// forward is one request's state between the decision and the audit line.
type forward struct {
	p           *session.Principal
	stepUpRule  string
	auditID     string
	subresource string
	status      int // the upstream's status, or what stepgate answered; 0 while nothing is written
	// websocket and wsProtocol describe a 101 to a WebSocket upgrade.
	websocket  bool
	wsProtocol string
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	ev := auditEvent{start: start, auditID: h.ids.next(), method: r.Method, uri: r.URL.RequestURI()}
	defer func() {
		h.metrics.count(ev.decision)
		h.logRequest(&ev, h.now())
	}()

	p, err := h.authenticate(r)
	if err != nil {
		ev.decision = "unauthenticated"
		ev.status = h.refuseAuth(w, r, err)
		return
	}
	ev.p = p
	if name, ok := clientImpersonation(r.Header); ok {
		ev.decision, ev.status = "refused", http.StatusForbidden
		apistatus.ErrorFor(w, r, http.StatusForbidden, fmt.Sprintf(
			"stepgate does not pass client impersonation: the request carried %s, so it was refused rather than sent as %s. "+
				"Remove --as, --as-group, --as-uid and Impersonate-* headers; stepgate already acts as you.", name, p.User))
		return
	}
	attrs, info, err := h.attributes(r, p)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errMethod) {
			code = http.StatusMethodNotAllowed
		}
		ev.decision, ev.status = "refused", code
		apistatus.ErrorFor(w, r, code, "stepgate: "+err.Error())
		return
	}
	ev.attrs = &attrs
	if isUpgrade(r) && r.ContentLength != 0 { // -1: a chunked body of unknown length
		// An upgraded connection is copied outside the body limit, and no
		// Kubernetes upgrade sends a body: refuse rather than stream one.
		ev.decision, ev.status = "refused", http.StatusBadRequest
		apistatus.ErrorFor(w, r, http.StatusBadRequest, "stepgate: an upgrade request must not carry a body")
		return
	}
	stepUpRule, ok := h.decide(w, r, p, &attrs, &ev)
	if !ok {
		return
	}
	h.forward(w, r, p, info, stepUpRule, &ev)
}

// authenticate reads the bearer token and resolves it to a principal.
func (h *Handler) authenticate(r *http.Request) (*session.Principal, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNoCredentials
	}
	p, err := h.sessions.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if p.EnrollmentOnly {
		return nil, session.ErrEnrollmentRequired
	}
	return p, nil
}

var errNoCredentials = errors.New("no credentials")

func bearerToken(v string) (string, bool) {
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(v[len(prefix):])
	return t, t != ""
}

// refuseAuth answers an authentication failure and returns the status.
func (h *Handler) refuseAuth(w http.ResponseWriter, r *http.Request, err error) int {
	msg := "stepgate: the session has expired or was revoked; sign in again (stepgate login)"
	switch {
	case errors.Is(err, errNoCredentials):
		msg = "stepgate: no credentials; sign in with stepgate (stepgate login, or a kubeconfig from stepgate kubeconfig)"
	case errors.Is(err, session.ErrMalformedToken):
		msg = "stepgate: the bearer token is not a stepgate session or service token"
	case errors.Is(err, session.ErrEnrollmentRequired):
		msg = "stepgate: two-factor enrollment is not finished; sign in again (stepgate login) to set up your authenticator app"
	case errors.Is(err, session.ErrUnauthenticated):
	default:
		h.log.Error("authenticate request", zap.Error(err))
		apistatus.ErrorFor(w, r, http.StatusServiceUnavailable, "stepgate: cannot check the session right now; try again")
		return http.StatusServiceUnavailable
	}
	apistatus.ErrorFor(w, r, http.StatusUnauthorized, msg)
	return http.StatusUnauthorized
}

// clientImpersonation reports the first Impersonate-* header, matched
// case-insensitively.
func clientImpersonation(hdr http.Header) (string, bool) {
	const prefix = "impersonate-"
	for k := range hdr {
		if hasPrefixFold(k, prefix) {
			return k, true
		}
	}
	return "", false
}

// decide applies the rules. It answers refused requests itself and
// reports whether to forward, with the name of the step-up rule passed.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, p *session.Principal, a *rules.Attributes, ev *auditEvent) (string, bool) {
	if h.rules == nil {
		ev.decision = string(rules.ActionAllow)
		return "", true
	}
	d := h.rules.Decide(a)
	ev.decision = string(d.Action)
	if d.Rule != nil {
		ev.rule = d.Rule.Name
	}
	switch d.Action {
	case rules.ActionAllow:
		return "", true
	case rules.ActionDeny:
		ev.status = http.StatusForbidden
		msg := d.Message
		if msg == "" {
			msg = d.Describe(a) + " is not allowed through stepgate"
		}
		if d.Rule != nil {
			msg += " (rule " + d.Rule.Name + ")"
		}
		apistatus.ErrorFor(w, r, http.StatusForbidden, "stepgate: "+msg)
		return "", false
	}
	req := stepUpRequest(a)
	ok, err := h.sessions.StepUpSatisfied(r.Context(), p, d.Rule.Name, d.Rule.MaxAge, req)
	if err != nil {
		h.log.Error("check step-up grant", zap.Error(err))
		ev.status = http.StatusServiceUnavailable
		apistatus.ErrorFor(w, r, http.StatusServiceUnavailable, "stepgate: cannot check step-up right now; try again")
		return "", false
	}
	if ok {
		ev.decision = "stepUp.granted"
		return d.Rule.Name, true
	}
	desc := d.Describe(a)
	if _, err := h.sessions.Challenge(r.Context(), p, d.Rule.Name, d.Rule.MaxAge, req, desc); err != nil {
		h.log.Error("record step-up challenge", zap.Error(err))
		ev.status = http.StatusServiceUnavailable
		apistatus.ErrorFor(w, r, http.StatusServiceUnavailable, "stepgate: cannot record the step-up right now; try again")
		return "", false
	}
	ev.decision, ev.status = "stepUp.required", http.StatusUnauthorized
	w.Header().Set(StepUpHeader, "required")
	apistatus.ErrorFor(w, r, http.StatusUnauthorized, StepUpMessage(desc, d.Rule.Name, d.Rule.Message))
	return "", false
}

// StepUpHeader marks a 401 that asks for a step-up rather than a new
// sign-in, so scripts can tell the two apart.
const StepUpHeader = "Stepgate-Step-Up"

// StepUpMessage is the sentence kubectl prints for a step-up: the action,
// the rule, what to do, and the rule's own message (may be empty) last.
func StepUpMessage(action, rule, ruleMessage string) string {
	msg := fmt.Sprintf("%s needs a fresh one-time code (stepgate rule %s); enter it at the prompt "+
		"(or run stepgate elevate), then run the command again", action, rule)
	if ruleMessage != "" {
		msg += ". " + ruleMessage
	}
	return msg
}

// forward sends the request upstream. Long-running requests register with
// the session so that revoking it closes them.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, p *session.Principal, info *genericrequest.RequestInfo, stepUpRule string, ev *auditEvent) {
	f := &forward{p: p, stepUpRule: stepUpRule, auditID: ev.auditID, subresource: info.Subresource}
	ctx := context.WithValue(r.Context(), fwdKey{}, f)
	upgrade := isUpgrade(r)
	rp := h.rp
	if upgrade || info.Verb == "watch" || info.Subresource == "log" || info.Subresource == "proxy" {
		rp = h.rpStream
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		release := h.sessions.TrackStream(p.SessionID, func() { cancel(errRevoked) })
		defer release()
		if h.metrics != nil {
			h.metrics.streams.Add(1)
			defer h.metrics.streams.Add(-1)
		}
	}
	if upgrade {
		w = &upgradeWriter{ResponseWriter: w, ctx: ctx, f: f}
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	rp.ServeHTTP(w, r.WithContext(ctx))
	ev.status = f.status
}

func (h *Handler) modifyResponse(res *http.Response) error {
	if f, ok := res.Request.Context().Value(fwdKey{}).(*forward); ok {
		f.status = res.StatusCode
		if res.StatusCode == http.StatusSwitchingProtocols && strings.EqualFold(res.Header.Get("Upgrade"), "websocket") {
			f.websocket, f.wsProtocol = true, res.Header.Get("Sec-Websocket-Protocol")
		}
	}
	return nil
}

// upstreamError answers when the API server could not be reached or the
// request was cut short.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	f, _ := r.Context().Value(fwdKey{}).(*forward)
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		setStatus(f, http.StatusRequestEntityTooLarge)
		apistatus.ErrorFor(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("stepgate: the request body is larger than %d bytes", maxErr.Limit))
	case revoked(r.Context()) && (f == nil || f.status == 0):
		// Revoked before the API server answered: nothing is written yet,
		// so say why instead of leaving an empty response.
		setStatus(f, http.StatusUnauthorized)
		apistatus.ErrorFor(w, r, http.StatusUnauthorized, revokedMessage)
	case r.Context().Err() != nil:
		// The client went away, or the session was revoked mid-stream.
		setStatus(f, 499)
	default:
		h.log.Warn("upstream request failed", zap.Error(err))
		setStatus(f, http.StatusBadGateway)
		apistatus.ErrorFor(w, r, http.StatusBadGateway, "stepgate: the Kubernetes API server could not be reached")
	}
}

func setStatus(f *forward, code int) {
	if f != nil {
		f.status = code
	}
}
