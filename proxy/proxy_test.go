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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// fakeSessions is the Sessions a unit test controls.
type fakeSessions struct {
	mu         sync.Mutex
	principals map[string]*session.Principal
	satisfied  bool
	challenges []session.Request
	streams    int
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

func (f *fakeSessions) StepUpSatisfied(context.Context, *session.Principal, string, time.Duration, session.Request) (bool, error) {
	return f.satisfied, nil
}

func (f *fakeSessions) Challenge(_ context.Context, _ *session.Principal, rule string, _ time.Duration, req session.Request, desc string) (*session.Challenge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.challenges = append(f.challenges, req)
	return &session.Challenge{Rule: rule, Request: req, Description: desc}, nil
}

func (f *fakeSessions) TrackStream(string, context.CancelFunc) func() {
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	return func() {}
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

type fixture struct {
	up       *recorder
	sessions *fakeSessions
	srv      *httptest.Server
}

func newFixture(t *testing.T, rs []rules.Rule) *fixture {
	t.Helper()
	up := &recorder{}
	upstream := httptest.NewUnstartedServer(up)
	upstream.EnableHTTP2 = true
	upstream.StartTLS()
	t.Cleanup(upstream.Close)
	fs := &fakeSessions{principals: map[string]*session.Principal{aliceToken: alice}}
	var dec Decider
	if rs != nil {
		set, err := rules.Compile(rs, "")
		if err != nil {
			t.Fatal(err)
		}
		dec = set
	}
	h, err := New(Options{Sessions: fs, Rules: dec, Transport: upstream.Client().Transport, UpstreamURL: upstream.URL, MaxBodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(h)
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	return &fixture{up: up, sessions: fs, srv: front}
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
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	rs := []rules.Rule{
		{Name: "no-secrets", Match: rules.Match{Resources: []string{"secrets"}}, Action: rules.ActionDeny, Message: "secrets are off limits"},
		{Name: "prod-delete", Match: rules.Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: rules.ActionStepUp},
	}
	f := newFixture(t, rs)
	resp, st := f.do(t, http.MethodGet, "/api/v1/namespaces/default/secrets/x", bearer(aliceToken), "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(st.Message, "secrets are off limits") || !strings.Contains(st.Message, "no-secrets") {
		t.Errorf("deny: %d %q", resp.StatusCode, st.Message)
	}
	resp, st = f.do(t, http.MethodDelete, "/api/v1/namespaces/prod-eu/pods/web", bearer(aliceToken), "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(StepUpHeader) != "required" {
		t.Fatalf("step-up: %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.HasPrefix(st.Message, "delete pods/web in namespace prod-eu needs a fresh one-time code") {
		t.Errorf("step-up message %q", st.Message)
	}
	if f.up.count() != 0 {
		t.Fatal("a refused request reached the API server")
	}
	want := session.Request{Verb: "delete", Resource: "pods", Namespace: "prod-eu", Name: "web"}
	if diff := cmp.Diff([]session.Request{want}, f.sessions.challenges); diff != "" {
		t.Errorf("challenge (-want +got):\n%s", diff)
	}
	f.sessions.satisfied = true
	resp, _ = f.do(t, http.MethodDelete, "/api/v1/namespaces/prod-eu/pods/web", bearer(aliceToken), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("granted step-up: %d", resp.StatusCode)
	}
	if got := f.up.last().Header.Get("Impersonate-Extra-Stepgate.io%2fstep-Up"); got != "prod-delete" {
		t.Errorf("step-up extra = %q", got)
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
	if f.sessions.streams == 0 {
		t.Error("the watch was not registered as a stream of the session")
	}
}

// upgrade sends a raw HTTP/1.1 upgrade request and returns the connection
// and the response.
func upgrade(t *testing.T, f *fixture, path string) (*tls.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := tls.Dial("tcp", f.srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+aliceToken+
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

func TestUpgradeSplicedOnlyAfter101(t *testing.T) {
	t.Parallel()
	t.Run("refused upgrade stays HTTP", func(t *testing.T) {
		f := newFixture(t, nil)
		f.up.h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"kind":"Status","code":403}`)
		}
		conn, br, resp := upgrade(t, f, "/api/v1/namespaces/default/pods/web/exec?command=sh")
		defer conn.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		io.Copy(io.Discard, resp.Body)
		// Not spliced: the same connection still speaks HTTP to stepgate.
		io.WriteString(conn, "GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+aliceToken+"\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp2, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection no longer speaks HTTP after a refused upgrade: %v", err)
		}
		if resp2.StatusCode != http.StatusOK && resp2.StatusCode != http.StatusForbidden {
			t.Errorf("second request: %d", resp2.StatusCode)
		}
		if got := f.up.reqs[0].Header.Get("Upgrade"); got != "websocket" {
			t.Errorf("upstream saw Upgrade %q", got)
		}
	})
	t.Run("101 is spliced", func(t *testing.T) {
		f := newFixture(t, nil)
		f.up.h = func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor != 1 {
				http.Error(w, "upgrade over HTTP/2", http.StatusBadRequest)
				return
			}
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.WriteHeader(http.StatusSwitchingProtocols)
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo:" + line)
			brw.Flush()
		}
		conn, br, resp := upgrade(t, f, "/api/v1/namespaces/default/pods/web/exec?command=sh")
		defer conn.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		io.WriteString(conn, "ping\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil || line != "echo:ping\n" {
			t.Errorf("through the upgraded connection: %q %v", line, err)
		}
	})
}
