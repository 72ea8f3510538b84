package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/internal/apistatus"
	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/session"
)

// Sessions is what the API needs from the session package.
type Sessions interface {
	Login(ctx context.Context, req session.LoginRequest) (*session.LoginResult, error)
	Authenticate(ctx context.Context, token string) (*session.Principal, error)
	Logout(ctx context.Context, p *session.Principal) error
	PendingChallenge(ctx context.Context, p *session.Principal) (*session.Challenge, error)
	StepUp(ctx context.Context, p *session.Principal, req session.StepUpRequest) (*session.StepUpResult, error)
	BeginEnrollment(ctx context.Context, p *session.Principal) (*session.Enrollment, error)
	ConfirmEnrollment(ctx context.Context, p *session.Principal, code, source string) (*session.EnrollResult, error)
	DisableTOTP(ctx context.Context, p *session.Principal, code, source string) error
	RegenerateRecoveryCodes(ctx context.Context, p *session.Principal, code, source string) ([]string, error)
	Accounts(ctx context.Context) ([]session.AccountStatus, error)
	Unlock(ctx context.Context, name, actor string) error
	ResetMFA(ctx context.Context, name, actor string) error
	SetDisabled(ctx context.Context, name string, disabled bool, actor string) error
	ListSessions(ctx context.Context, user string) ([]session.SessionInfo, error)
	RevokeSession(ctx context.Context, id, actor string) error
	RevokeUserSessions(ctx context.Context, user, actor string) (int, error)
	ListAudit(ctx context.Context, f session.AuditFilter) ([]session.AuditEvent, error)
}

// Options configure an API.
type Options struct {
	Sessions Sessions // required
	// MaxBodyBytes bounds request bodies. Default 16 KiB.
	MaxBodyBytes int64
	// BodyReadTimeout bounds how long a client may take to send a request
	// body, so one that drips it cannot hold a handler; it starts when the
	// handler does. Default 5s.
	BodyReadTimeout time.Duration
	// AttemptsPerMinute and Burst throttle code-checking endpoints per
	// source address. Defaults 30 and 10.
	AttemptsPerMinute int
	Burst             int
	// LoginTimeout bounds how long a sign-in may wait for password-hashing
	// capacity before answering 503. Default 10s.
	LoginTimeout time.Duration
	Logger       *zap.Logger
	Clock        func() time.Time
}

// API serves /stepgate/v1/.
type API struct {
	s        Sessions
	maxBody  int64
	bodyTO   time.Duration
	throttle *Throttle
	loginTO  time.Duration
	log      *zap.Logger
	now      func() time.Time
	mux      *http.ServeMux
}

var _ http.Handler = (*API)(nil)

// New builds the API.
func New(opts Options) (*API, error) {
	if opts.Sessions == nil {
		return nil, errors.New("web: sessions are required")
	}
	a := &API{s: opts.Sessions, maxBody: opts.MaxBodyBytes, bodyTO: opts.BodyReadTimeout, loginTO: opts.LoginTimeout, log: opts.Logger, now: opts.Clock}
	if a.maxBody <= 0 {
		a.maxBody = 16 << 10
	}
	if a.bodyTO <= 0 {
		a.bodyTO = 5 * time.Second
	}
	if a.loginTO <= 0 {
		a.loginTO = 10 * time.Second
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	a.log = a.log.Named("web")
	if a.now == nil {
		a.now = time.Now
	}
	a.throttle = NewThrottle(opts.AttemptsPerMinute, opts.Burst, a.now)
	a.routes()
	return a, nil
}

// Throttle returns the API's per-source throttle (the benchmark reads it).
func (a *API) Throttle() *Throttle { return a.throttle }

func (a *API) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST "+PathLogin, a.throttled(a.login))
	m.HandleFunc("GET "+PathSession, a.authed(a.getSession, allowEnrolling))
	m.HandleFunc("DELETE "+PathSession, a.authed(a.logout, allowEnrolling))
	m.HandleFunc("POST "+PathStepUp, a.throttled(a.authed(a.stepUp, 0)))
	m.HandleFunc("POST "+PathTOTP, a.authed(a.beginEnrollment, allowEnrolling))
	m.HandleFunc("POST "+PathTOTPConfirm, a.throttled(a.authed(a.confirmEnrollment, allowEnrolling)))
	m.HandleFunc("POST "+PathTOTPDisable, a.throttled(a.authed(a.disableTOTP, 0)))
	m.HandleFunc("POST "+PathRecoveryCodes, a.throttled(a.authed(a.regenerateRecoveryCodes, 0)))
	m.HandleFunc("GET "+PathAccounts, a.authed(a.accounts, adminOnly))
	m.HandleFunc("POST "+PathAccounts+"/{name}/{action}", a.authed(a.accountAction, adminOnly))
	m.HandleFunc("GET "+PathSessions, a.authed(a.sessions, 0))
	m.HandleFunc("DELETE "+PathSessions+"/{id}", a.authed(a.revokeSession, 0))
	m.HandleFunc("GET "+PathAudit, a.authed(a.audit, adminOnly))
	a.mux = m
}

// ServeHTTP implements http.Handler. Unknown paths and methods get a
// Status body too. A request that carries a body must send all of it
// within BodyReadTimeout, whether or not its handler reads it (net/http
// drains what a handler leaves unread).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.routed(r) {
		a.notFound(w, r)
		return
	}
	if r.ContentLength != 0 {
		// Not for bodiless requests: net/http reads ahead on their
		// connection while the handler runs, and a deadline would end
		// that read and cancel the request.
		a.setReadDeadline(w, time.Now().Add(a.bodyTO))
	}
	a.mux.ServeHTTP(w, r)
}

// notFound answers a request no route takes: 405 naming the methods the
// path allows, or 404.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/ui") {
		apistatus.Error(w, http.StatusNotFound, "the stepgate web UI is not part of this build yet; use the stepgate CLI")
		return
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if probe := (&http.Request{Method: m, URL: r.URL, Host: r.Host}); m != r.Method && a.routed(probe) {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		apistatus.Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not supported on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	apistatus.Error(w, http.StatusNotFound, "no such stepgate API endpoint: "+r.Method+" "+r.URL.Path)
}

// routed reports whether one of the API's routes takes r as it is.
// ServeMux would answer the rest itself, in plain text: a 404 or 405, or a
// redirect from a path with dot segments or double slashes to its clean
// form (which a client would follow, resending the body).
func (a *API) routed(r *http.Request) bool {
	_, pattern := a.mux.Handler(r)
	p := r.URL.EscapedPath()
	return pattern != "" && path.Clean(p) == p
}

// setReadDeadline sets the connection's (or HTTP/2 stream's) read
// deadline; a zero t clears it. A ResponseWriter that cannot (a test
// recorder) is left alone.
func (a *API) setReadDeadline(w http.ResponseWriter, t time.Time) {
	if err := http.NewResponseController(w).SetReadDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
		a.log.Debug("set read deadline", zap.Error(err))
	}
}

type authFlags int

const (
	allowEnrolling authFlags = 1 << iota // enrollment-only sessions may call it
	adminOnly
)

type authedHandler func(w http.ResponseWriter, r *http.Request, p *session.Principal)

// authed authenticates the bearer token before calling h.
func (a *API) authed(h authedHandler, flags authFlags) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			apistatus.Error(w, http.StatusUnauthorized, "sign in first: no bearer token")
			return
		}
		p, err := a.s.Authenticate(r.Context(), token)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if p.EnrollmentOnly && flags&allowEnrolling == 0 {
			a.writeError(w, r, session.ErrEnrollmentRequired)
			return
		}
		if flags&adminOnly != 0 && !p.Admin {
			apistatus.Error(w, http.StatusForbidden, "this needs a stepgate admin")
			return
		}
		h(w, r, p)
	}
}

// throttled refuses a request when its source has spent its budget.
func (a *API) throttled(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if wait, ok := a.throttle.Allow(sourceKey(r)); !ok {
			secs := int(wait.Seconds() + 0.999)
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			apistatus.Error(w, http.StatusTooManyRequests, fmt.Sprintf("too many attempts from this address; try again in %d s", secs))
			return
		}
		h(w, r)
	}
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(v[len(prefix):])
	return t, t != ""
}

// source is the client address recorded in the audit trail. stepgate
// terminates TLS itself, so the peer address is the client; forwarding
// headers are not trusted.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decode reads a bounded JSON body strictly into v: one object, no
// unknown fields, nothing after it, all of it within BodyReadTimeout (set
// by ServeHTTP). Once the whole body is in, the read deadline is cleared
// so it cannot cut the handler's work short.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, a.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			a.setReadDeadline(w, time.Time{})
			return true
		}
		if err == nil {
			err = errTrailingData
		}
	}
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		apistatus.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		apistatus.Write(w, http.StatusRequestTimeout, metav1.StatusReasonTimeout,
			fmt.Sprintf("the request body did not arrive within %s; send it all at once", a.bodyTO))
	case errors.Is(err, errTrailingData):
		apistatus.Error(w, http.StatusBadRequest, "request body must hold exactly one JSON object")
	default:
		apistatus.Error(w, http.StatusBadRequest, "request body is not valid JSON for this endpoint: "+err.Error())
	}
	return false
}

var errTrailingData = errors.New("data after the JSON object")

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError maps an error to its Status in one place.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, mfa.ErrClockDrift) && errors.Is(err, session.ErrInvalidCredentials):
		apistatus.Error(w, http.StatusUnauthorized, "invalid credentials: the one-time code is from a different time; your device's clock looks off, set it to update automatically")
	case errors.Is(err, session.ErrCodeReused):
		apistatus.Error(w, http.StatusUnauthorized, "invalid credentials: that one-time code was already used; wait for the next one")
	case errors.Is(err, session.ErrInvalidCredentials):
		apistatus.Error(w, http.StatusUnauthorized, "invalid credentials")
	case errors.Is(err, session.ErrUnauthenticated):
		apistatus.Error(w, http.StatusUnauthorized, "the session has expired or was revoked; sign in again")
	case errors.Is(err, session.ErrMalformedToken):
		apistatus.Error(w, http.StatusUnauthorized, "the bearer token is not a stepgate token")
	case errors.Is(err, mfa.ErrClockDrift):
		apistatus.Error(w, http.StatusUnprocessableEntity, "the one-time code is from a different time: your device's clock looks off")
	case errors.Is(err, mfa.ErrInvalidCode):
		apistatus.Error(w, http.StatusUnprocessableEntity, "that one-time code is not right; try the next one")
	case errors.Is(err, session.ErrEnrollmentRequired):
		apistatus.Error(w, http.StatusForbidden, "set up two-factor authentication first")
	case errors.Is(err, session.ErrMFARequired):
		apistatus.Error(w, http.StatusForbidden, "two-factor authentication is required for your groups and cannot be switched off")
	case errors.Is(err, session.ErrNotEnrolled):
		apistatus.Error(w, http.StatusConflict, "two-factor authentication is not set up for this account")
	case errors.Is(err, session.ErrNoChallenge):
		apistatus.Error(w, http.StatusConflict, "no step-up is pending for this session")
	case errors.Is(err, session.ErrMachine):
		apistatus.Error(w, http.StatusForbidden, "service tokens cannot do this")
	case errors.Is(err, session.ErrNotFound):
		apistatus.Error(w, http.StatusNotFound, "not found")
	case errors.Is(err, session.ErrExists):
		apistatus.Error(w, http.StatusConflict, err.Error())
	case errors.Is(err, session.ErrInvalidInput):
		apistatus.Error(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		apistatus.Error(w, http.StatusServiceUnavailable, "stepgate is busy; try again in a moment")
	case errors.Is(err, context.Canceled):
		// Usually the client went away and will not read this; if not, it
		// still gets a sentence rather than an empty 200.
		apistatus.Error(w, http.StatusServiceUnavailable, "the request was cancelled before stepgate finished it; try again")
	default:
		a.log.Error("api request failed", zap.String("path", r.URL.Path), zap.Error(err))
		apistatus.Error(w, http.StatusInternalServerError, "internal error")
	}
}
