package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/session"
)

// Every endpoint that checks a code shares sign-in's per-address budget:
// once it is spent, each answers 429 with Retry-After before looking at
// the token or the body, while endpoints that check no code still work,
// and other addresses are not affected.
func TestThrottleCoversCodeEndpoints(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, 6, 4) // 4 at once, then one every 10 s
	secret := f.user(t, "alice", false)
	token := f.login(t, "alice", secret) // the first of the 4
	for i := 0; i < 3; i++ {
		resp, body := f.call(t, http.MethodPost, PathStepUp, token, `{"code":"000000","elevateFor":"1m"}`)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("step-up attempt %d: %d %s", i, resp.StatusCode, body)
		}
	}
	throttled := []struct{ name, path, token, body string }{
		{"step-up", PathStepUp, token, `{"code":"000000","elevateFor":"1m"}`},
		{"step-up without a token", PathStepUp, "", `{"code":"000000"}`},
		{"new recovery codes", PathRecoveryCodes, token, `{"code":"000000"}`},
		{"switch TOTP off", PathTOTPDisable, token, `{"code":"000000"}`},
		{"confirm enrollment", PathTOTPConfirm, token, `{"code":"000000"}`},
		{"sign-in", PathLogin, "", loginBody("alice", pw, "000000")},
	}
	for _, tc := range throttled {
		resp, body := f.call(t, http.MethodPost, tc.path, tc.token, tc.body)
		st := statusOf(t, body)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" ||
			st.Reason != metav1.StatusReasonTooManyRequests || !strings.Contains(st.Message, "try again in 10 s") {
			t.Errorf("%s with the budget spent: %d Retry-After %q %s", tc.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, body := f.call(t, http.MethodGet, PathSession, token, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET session is not code-checking and must not be throttled: %d %s", resp.StatusCode, body)
	}
	// Another address has its own budget (httptest.NewRequest comes from
	// 192.0.2.1; the server's clients from 127.0.0.1).
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, httptest.NewRequest(http.MethodPost, PathStepUp, strings.NewReader(`{"code":"000000","elevateFor":"1m"}`)))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("step-up from another address: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(10 * time.Second)
	if resp, body := f.call(t, http.MethodPost, PathStepUp, token, `{"code":"000000","elevateFor":"1m"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("step-up after Retry-After: %d %s", resp.StatusCode, body)
	}
}

// saturatedSessions signs nobody in: every password-hashing slot is
// taken, so Login waits as mfa.PasswordHasher.Verify does (see
// TestHasherMaxConcurrent) until its context ends, and fails with the
// hasher's own error, wrapped as session.Manager.Login wraps it.
type saturatedSessions struct {
	*session.Manager
	hasher *mfa.PasswordHasher
}

func (s saturatedSessions) Login(ctx context.Context, req session.LoginRequest) (*session.LoginResult, error) {
	<-ctx.Done()
	_, err := s.hasher.Verify(ctx, "", req.Password)
	return nil, fmt.Errorf("login: %w", err)
}

// A sign-in that cannot get password-hashing capacity answers 503 with a
// Status and Retry-After once LoginTimeout has passed, instead of hanging.
func TestSignInUnderSaturatedHashingAnswers503(t *testing.T) {
	t.Parallel()
	hasher, err := mfa.NewPasswordHasher(mfa.PasswordHasherOptions{Params: mfa.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	const loginTimeout = 150 * time.Millisecond
	f := newFixture(t, fixtureOptions{perMinute: 600, burst: 100, loginTimeout: loginTimeout,
		sessions: func(m *session.Manager) Sessions { return saturatedSessions{m, hasher} }})
	f.user(t, "alice", false)
	start := time.Now()
	resp, body := f.call(t, http.MethodPost, PathLogin, "", loginBody("alice", pw, "123456"))
	took := time.Since(start)
	st := statusOf(t, body)
	if resp.StatusCode != http.StatusServiceUnavailable || st.Code != http.StatusServiceUnavailable ||
		st.Reason != metav1.StatusReasonServiceUnavailable || !strings.HasPrefix(st.Message, "stepgate is busy") ||
		resp.Header.Get("Retry-After") == "" {
		t.Errorf("saturated sign-in: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if took < loginTimeout || took > 5*time.Second {
		t.Errorf("saturated sign-in answered after %s, want about LoginTimeout (%s)", took, loginTimeout)
	}
	if hasher.Work() != 0 {
		t.Errorf("%d hashes computed", hasher.Work())
	}
}

// dripBody sends head and then nothing more until the test ends.
func dripBody(t *testing.T, head string) io.Reader {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go pw.Write([]byte(head))
	return pr
}

// A client that drips its body gets 408 with a Status once
// BodyReadTimeout has passed, over HTTP/1.1 and HTTP/2, whether the
// handler reads the body or answers without it.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%t", h2), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{perMinute: 600, burst: 100, bodyReadTimeout: timeout, http2: h2})
			secret := f.user(t, "alice", false)
			token := f.login(t, "alice", secret)
			cases := []struct {
				name, path, token string
				length            int64 // declared Content-Length; -1 for chunked
				want              int
			}{
				{"sign-in, chunked", PathLogin, "", -1, http.StatusRequestTimeout},
				{"sign-in, declared length", PathLogin, "", 200, http.StatusRequestTimeout},
				{"step-up", PathStepUp, token, -1, http.StatusRequestTimeout},
				{"confirm enrollment", PathTOTPConfirm, token, 100, http.StatusRequestTimeout},
				// These answer without reading the body; net/http then
				// drains it, which the deadline bounds too.
				{"unauthenticated", PathStepUp, "", 100, http.StatusUnauthorized},
				{"begin enrollment, enrolled", PathTOTP, token, 100, http.StatusUnprocessableEntity},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					req, _ := http.NewRequest(http.MethodPost, f.srv.URL+tc.path, dripBody(t, `{"code":"1`))
					req.ContentLength = tc.length
					if tc.token != "" {
						req.Header.Set("Authorization", "Bearer "+tc.token)
					}
					client := *f.srv.Client()
					client.Timeout = 10 * time.Second
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						t.Fatalf("no answer: %v", err)
					}
					defer resp.Body.Close()
					took := time.Since(start)
					data, _ := io.ReadAll(resp.Body)
					st := statusOf(t, string(data))
					if resp.StatusCode != tc.want || st.Message == "" {
						t.Errorf("%d %s, want %d", resp.StatusCode, data, tc.want)
					}
					if tc.want == http.StatusRequestTimeout && (st.Reason != metav1.StatusReasonTimeout || !strings.Contains(st.Message, "did not arrive within 200ms")) {
						t.Errorf("slow body Status: %+v", st)
					}
					if took > 5*time.Second {
						t.Errorf("answered after %s", took)
					}
				})
			}
		})
	}
}

// slowSessions takes longer than BodyReadTimeout to sign in and to look
// up a session's pending step-up.
type slowSessions struct {
	*session.Manager
	delay time.Duration
}

func (s slowSessions) Login(ctx context.Context, req session.LoginRequest) (*session.LoginResult, error) {
	time.Sleep(s.delay)
	return s.Manager.Login(ctx, req)
}

func (s slowSessions) PendingChallenge(ctx context.Context, p *session.Principal) (*session.Challenge, error) {
	time.Sleep(s.delay)
	return s.Manager.PendingChallenge(ctx, p)
}

// The body deadline covers only the body: a handler that works longer
// than BodyReadTimeout after reading it (or on a request without one) is
// not cut short, and the connection stays usable.
func TestBodyDeadlineDoesNotCutTheHandler(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%t", h2), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{perMinute: 600, burst: 100, bodyReadTimeout: timeout, http2: h2,
				sessions: func(m *session.Manager) Sessions { return slowSessions{m, 3 * timeout} }})
			secret := f.user(t, "alice", false)
			for i := 0; i < 2; i++ { // the second round reuses the connection
				token := f.login(t, "alice", secret)
				resp, body := f.call(t, http.MethodGet, PathSession, token, "")
				var info SessionInfo
				if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &info) != nil || info.User != "alice" {
					t.Errorf("slow GET session: %d %s", resp.StatusCode, body)
				}
				f.clock.Advance(30 * time.Second)
			}
		})
	}
}

// Wrong methods and unknown paths get a Status with a sentence.
func TestUnroutedRequestsGetStatus(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, 600, 100)
	cases := []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodGet, PathLogin, http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, PathSession, http.StatusMethodNotAllowed, "GET, DELETE"},
		{http.MethodGet, "/stepgate/v1/nope", http.StatusNotFound, ""},
		{http.MethodPost, "/stepgate/v1/./login", http.StatusNotFound, ""},
		{http.MethodGet, "/ui/", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
		req.URL.Opaque = tc.path // keep dot segments as sent
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		st := statusOf(t, string(data))
		if resp.StatusCode != tc.want || resp.Header.Get("Allow") != tc.allow || !strings.Contains(st.Message, " ") {
			t.Errorf("%s %s: %d Allow %q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), data)
		}
	}
}
