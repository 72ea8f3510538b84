package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// stepUpCall is one call of StepUpSatisfied or Challenge, as the proxy
// made it.
type stepUpCall struct {
	Session     string
	Rule        string
	MaxAge      time.Duration
	Req         session.Request
	Description string // Challenge only
}

// fakeSessions is the Sessions a unit test controls.
type fakeSessions struct {
	principals map[string]*session.Principal

	mu         sync.Mutex
	satisfied  bool
	checks     []stepUpCall // StepUpSatisfied calls
	challenges []stepUpCall // Challenge calls
	streams    int          // TrackStream calls
	open       map[int]context.CancelFunc
}

func (f *fakeSessions) Authenticate(_ context.Context, token string) (*session.Principal, error) {
	if !strings.HasPrefix(token, "sgs_") {
		return nil, session.ErrMalformedToken
	}
	if p, ok := f.principals[token]; ok {
		return p, nil
	}
	return nil, session.ErrUnauthenticated
}

func (f *fakeSessions) StepUpSatisfied(_ context.Context, p *session.Principal, rule string, maxAge time.Duration, req session.Request) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, stepUpCall{Session: p.SessionID, Rule: rule, MaxAge: maxAge, Req: req})
	return f.satisfied, nil
}

func (f *fakeSessions) Challenge(_ context.Context, p *session.Principal, rule string, maxAge time.Duration, req session.Request, desc string) (*session.Challenge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.challenges = append(f.challenges, stepUpCall{Session: p.SessionID, Rule: rule, MaxAge: maxAge, Req: req, Description: desc})
	return &session.Challenge{Rule: rule, Request: req, Description: desc}, nil
}

func (f *fakeSessions) TrackStream(_ string, cancel context.CancelFunc) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams++
	id := f.streams
	f.open[id] = cancel
	return func() {
		f.mu.Lock()
		delete(f.open, id)
		f.mu.Unlock()
	}
}

// revoke cancels every open stream, as revoking the session does.
func (f *fakeSessions) revoke() {
	f.mu.Lock()
	var cancels []context.CancelFunc
	for _, c := range f.open {
		cancels = append(cancels, c)
	}
	f.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}

func (f *fakeSessions) setSatisfied(v bool) {
	f.mu.Lock()
	f.satisfied = v
	f.mu.Unlock()
}

// calls returns copies of the recorded StepUpSatisfied and Challenge calls.
func (f *fakeSessions) calls() (checks, challenges []stepUpCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stepUpCall(nil), f.checks...), append([]stepUpCall(nil), f.challenges...)
}

func (f *fakeSessions) streamCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams
}

const aliceToken = "sgs_alice"

var alice = &session.Principal{SessionID: "s-1", UID: "u-1", User: "alice", Groups: []string{"dev", "ops"}, MFAAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}

// recorder is the fake API server: it records every request it gets.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	h    http.HandlerFunc
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	if r.h != nil {
		r.h(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"kind":"PodList"}`)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) all() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

type fixture struct {
	up       *recorder
	sessions *fakeSessions
	srv      *httptest.Server
	// logs holds everything the Handler logged.
	logs *observer.ObservedLogs
	// served receives the path of each request once the Handler has
	// finished with it (and written its audit line).
	served chan string
}

// waitServed waits until the Handler has finished a request for path.
func (f *fixture) waitServed(t *testing.T, path string) {
	t.Helper()
	for p := range f.served {
		if p == path {
			return
		}
	}
}

func newFixture(t *testing.T, rs []rules.Rule) *fixture {
	t.Helper()
	up := &recorder{}
	upstream := httptest.NewUnstartedServer(up)
	upstream.EnableHTTP2 = true
	upstream.StartTLS()
	t.Cleanup(upstream.Close)
	fs := &fakeSessions{principals: map[string]*session.Principal{aliceToken: alice}, open: map[int]context.CancelFunc{}}
	var dec Decider
	if rs != nil {
		set, err := rules.Compile(rs, "")
		if err != nil {
			t.Fatal(err)
		}
		dec = set
	}
	core, logs := observer.New(zapcore.DebugLevel)
	// As in production: upgrades over HTTP/1.1, the rest over HTTP/2.
	h2 := upstream.Client().Transport.(*http.Transport)
	h1 := h2.Clone()
	h1.ForceAttemptHTTP2 = false
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	h, err := New(Options{Sessions: fs, Rules: dec, Transport: &splitTransport{h1: h1, h2: h2}, UpstreamURL: upstream.URL,
		MaxBodyBytes: 1024, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 1024)
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case served <- r.URL.Path:
		default:
		}
	}))
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	return &fixture{up: up, sessions: fs, srv: front, logs: logs, served: served}
}

func (f *fixture) do(t *testing.T, method, path string, hdr http.Header, body string) (*http.Response, *metav1.Status) {
	t.Helper()
	return f.doWith(t, f.srv.Client(), method, path, hdr, body)
}

// http1 is a client that speaks HTTP/1.1, which may carry Connection headers.
func (f *fixture) http1() *http.Client {
	tr := f.srv.Client().Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return &http.Client{Transport: tr}
}

func (f *fixture) doWith(t *testing.T, c *http.Client, method, path string, hdr http.Header, body string) (*http.Response, *metav1.Status) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 400 {
		return resp, nil
	}
	var st metav1.Status
	if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("%d answer is not a Status: %q", resp.StatusCode, data)
	}
	if int(st.Code) != resp.StatusCode {
		t.Errorf("Status code %d, HTTP %d", st.Code, resp.StatusCode)
	}
	return resp, &st
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestUnauthenticatedRequestsGetStatus401(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cases := map[string]http.Header{
		"no token":                 nil,
		"basic auth":               {"Authorization": {"Basic YWxpY2U6cHc="}},
		"empty bearer":             {"Authorization": {"Bearer "}},
		"api server token":         bearer("abcdef.0123456789abcdef"),
		"unknown session":          bearer("sgs_nobody"),
		"expired or revoked":       bearer("sgs_revoked"),
		"client certificate only?": {"X-Remote-User": {"admin"}},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			resp, st := f.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr, "")
			if resp.StatusCode != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized || st.Message == "" {
				t.Errorf("got %d %+v", resp.StatusCode, st)
			}
		})
	}
	if n := f.up.count(); n != 0 {
		t.Errorf("%d unauthenticated requests reached the API server", n)
	}
}

func TestClientImpersonationIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, h := range []string{"Impersonate-User", "impersonate-group", "IMPERSONATE-UID", "Impersonate-Extra-scopes", "Impersonate-Extra-stepgate.io%2Fsession"} {
		t.Run(h, func(t *testing.T) {
			hdr := bearer(aliceToken)
			hdr[h] = []string{"system:admin"}
			resp, st := f.do(t, http.MethodGet, "/api/v1/namespaces", hdr, "")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(st.Message, "does not pass client impersonation") {
				t.Errorf("got %d %q", resp.StatusCode, st.Message)
			}
		})
	}
	if n := f.up.count(); n != 0 {
		t.Errorf("%d impersonating requests reached the API server", n)
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	hdr := bearer(aliceToken)
	hdr["Cookie"] = []string{"stepgate_session=secret"}
	hdr["X-Forwarded-For"] = []string{"10.0.0.1"}
	hdr["X-Forwarded-User"] = []string{"root"}
	hdr["Connection"] = []string{"X-Secret-Hop"}
	hdr["X-Secret-Hop"] = []string{"drop me"}
	hdr["Proxy-Authorization"] = []string{"Basic x"}
	hdr["Accept"] = []string{"application/json"}
	resp, _ := f.doWith(t, f.http1(), http.MethodGet, "/api/v1/namespaces/default/pods?limit=5", hdr, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := f.up.last()
	for _, k := range []string{"Authorization", "Cookie", "X-Forwarded-For", "X-Forwarded-User", "X-Secret-Hop", "Proxy-Authorization"} {
		if v := got.Header.Values(k); len(v) > 0 {
			t.Errorf("%s reached the API server: %q", k, v)
		}
	}
	want := map[string][]string{
		"Impersonate-User":                        {"alice"},
		"Impersonate-Uid":                         {"u-1"},
		"Impersonate-Group":                       {"dev", "ops"},
		"Impersonate-Extra-Stepgate.io%2fsession": {"s-1"},
		"Impersonate-Extra-Stepgate.io%2fmfa-At":  {"2026-11-25T10:00:00Z"},
		"Accept":                                  {"application/json"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got.Header.Values(k)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if got.URL.RawQuery != "limit=5" || got.URL.Path != "/api/v1/namespaces/default/pods" {
		t.Errorf("forwarded %s?%s", got.URL.Path, got.URL.RawQuery)
	}
	if got.Header.Get("Audit-Id") == "" {
		t.Error("no Audit-Id for the API server's audit log")
	}
	for k, v := range got.Header {
		if strings.EqualFold(k, "Impersonate-Extra-"+ExtraStepUp) {
			t.Errorf("an ordinary request carried the step-up extra %s: %q", k, v)
		}
	}
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	rs := []rules.Rule{
		{Name: "no-secrets", Match: rules.Match{Resources: []string{"secrets"}}, Action: rules.ActionDeny, Message: "secrets are off limits"},
		{Name: "prod-delete", Match: rules.Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: rules.ActionStepUp,
			Message: "production deletes are reviewed weekly"},
		{Name: "prod-scale", Match: rules.Match{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Namespaces: []string{"prod-*"}},
			Action: rules.ActionStepUp, MaxAge: metav1.Duration{Duration: 10 * time.Minute}},
	}
	f := newFixture(t, rs)
	resp, st := f.do(t, http.MethodGet, "/api/v1/namespaces/default/secrets/x", bearer(aliceToken), "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(st.Message, "secrets are off limits") || !strings.Contains(st.Message, "no-secrets") {
		t.Errorf("deny: %d %q", resp.StatusCode, st.Message)
	}

	const deletePath, scalePath = "/api/v1/namespaces/prod-eu/pods/web", "/apis/apps/v1/namespaces/prod-eu/deployments/web/scale"
	resp, st = f.do(t, http.MethodDelete, deletePath, bearer(aliceToken), "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(StepUpHeader) != "required" {
		t.Fatalf("step-up: %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.HasPrefix(st.Message, "delete pods/web in namespace prod-eu needs a fresh one-time code (stepgate rule prod-delete)") ||
		!strings.HasSuffix(st.Message, "then run the command again. production deletes are reviewed weekly") {
		t.Errorf("step-up message %q", st.Message)
	}
	resp, st = f.do(t, http.MethodPut, scalePath, bearer(aliceToken), `{}`)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasSuffix(st.Message, "then run the command again") {
		t.Fatalf("step-up without a rule message: %d %q", resp.StatusCode, st.Message)
	}
	if f.up.count() != 0 {
		t.Fatal("a refused request reached the API server")
	}

	del := stepUpCall{Session: "s-1", Rule: "prod-delete", Req: session.Request{Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "web"}}
	scale := stepUpCall{Session: "s-1", Rule: "prod-scale", MaxAge: 10 * time.Minute,
		Req: session.Request{Verb: "update", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "prod-eu", Name: "web"}}
	delChallenge, scaleChallenge := del, scale
	delChallenge.Description = "delete pods/web in namespace prod-eu"
	scaleChallenge.Description = "update deployments.apps/scale web in namespace prod-eu"
	checks, challenges := f.sessions.calls()
	if diff := cmp.Diff([]stepUpCall{del, scale}, checks); diff != "" {
		t.Errorf("StepUpSatisfied calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]stepUpCall{delChallenge, scaleChallenge}, challenges); diff != "" {
		t.Errorf("Challenge calls (-want +got):\n%s", diff)
	}

	f.sessions.setSatisfied(true)
	for _, tc := range []struct{ method, path, rule string }{{http.MethodDelete, deletePath, "prod-delete"}, {http.MethodPut, scalePath, "prod-scale"}} {
		resp, _ = f.do(t, tc.method, tc.path, bearer(aliceToken), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("granted step-up %s %s: %d", tc.method, tc.path, resp.StatusCode)
		}
		if got := f.up.last().Header.Values("Impersonate-Extra-Stepgate.io%2fstep-Up"); !cmp.Equal(got, []string{tc.rule}) {
			t.Errorf("step-up extra = %q, want %q", got, tc.rule)
		}
	}
	checks, challenges = f.sessions.calls()
	if diff := cmp.Diff([]stepUpCall{del, scale, del, scale}, checks); diff != "" {
		t.Errorf("StepUpSatisfied calls after the grant (-want +got):\n%s", diff)
	}
	if len(challenges) != 2 {
		t.Errorf("a satisfied step-up recorded a challenge: %+v", challenges)
	}
}

func TestNonCanonicalRequestsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cases := []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/api/v1/namespaces/prod-eu/pods/../pods/web", http.StatusBadRequest},
		{http.MethodGet, "/api/v1/namespaces/prod-eu/pods/./web", http.StatusBadRequest},
		{http.MethodGet, "/api/v1//namespaces/prod-eu/pods", http.StatusBadRequest},
		{http.MethodGet, "/api/v1/namespaces/prod-eu%2Fpods/web", http.StatusBadRequest},
		{http.MethodGet, "/api/v1/namespaces/prod-eu/pods/%2e%2e/web", http.StatusBadRequest},
		{"delete", "/api/v1/namespaces/prod-eu/pods/web", http.StatusMethodNotAllowed},
		{"DeLeTe", "/api/v1/namespaces/prod-eu/pods/web", http.StatusMethodNotAllowed},
		{"PROPFIND", "/api/v1/namespaces", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, st := f.do(t, tc.method, tc.path, bearer(aliceToken), "")
			if resp.StatusCode != tc.code || st == nil {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
	if f.up.count() != 0 {
		t.Errorf("%d refused requests reached the API server", f.up.count())
	}
	// A single trailing slash is fine.
	if resp, _ := f.do(t, http.MethodGet, "/api/v1/namespaces/", bearer(aliceToken), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("trailing slash: %d", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.up.h = func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		io.WriteString(w, "{}")
	}
	resp, _ := f.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", bearer(aliceToken), strings.Repeat("x", 4096))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
}

func TestWatchIsFlushedAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	release := make(chan struct{})
	f.up.h = func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"type":"ADDED"}`+"\n")
		w.(http.Flusher).Flush()
		<-release
	}
	defer close(release)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/namespaces/default/pods?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "ADDED") {
		t.Fatalf("first watch event: %q %v", line, err)
	}
	if f.sessions.streamCount() == 0 {
		t.Error("the watch was not registered as a stream of the session")
	}
}
