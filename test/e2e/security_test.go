package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/web"
)

// status sends a request to stepgate and decodes the Status it answers.
func (s *server) status(t *testing.T, method, path, token string, hdr map[string]string) (int, metav1.Status) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
			t.Fatalf("%s %s: %d answer is not a metav1.Status: %q", method, path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, st
}

func TestRBACForbiddenNamesTheUser(t *testing.T) {
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "bob") // no groups: RBAC grants nothing
	kc := s.kubeconfig(t, u)
	s.signIn(t, u, kc)
	out, err := kubectl(t, kc, "get", "pods", "-n", "e2e")
	if err == nil || !strings.Contains(out, `Error from server (Forbidden)`) || !strings.Contains(out, `User "bob" cannot list resource "pods"`) {
		t.Fatalf("kubectl get pods as bob: %v\n%s", err, out)
	}
}

func TestClientImpersonationIsRefused(t *testing.T) {
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "alice", "devs")
	kc := s.kubeconfig(t, u)
	s.signIn(t, u, kc)
	for _, args := range [][]string{
		{"--as=system:admin", "get", "pods"},
		{"--as=alice", "--as-group=system:masters", "get", "pods"},
		{"--as=alice", "--as-uid=1234", "get", "pods"},
	} {
		out, err := kubectl(t, kc, args...)
		if err == nil || !strings.Contains(out, "stepgate does not pass client impersonation") || !strings.Contains(out, "Forbidden") {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 5))
		}
	}
	token := s.login(t, u)
	for _, h := range []string{"Impersonate-Extra-Scopes", "impersonate-user", "IMPERSONATE-GROUP"} {
		code, st := s.status(t, http.MethodGet, "/api/v1/namespaces/e2e/pods", token, map[string]string{h: "x"})
		if code != http.StatusForbidden || !strings.Contains(st.Message, "does not pass client impersonation") {
			t.Errorf("%s: %d %q", h, code, st.Message)
		}
	}
}

func TestTokensThatAreNotLiveSessions(t *testing.T) {
	s := startServer(t, "", "auth:\n  sessionIdleTimeout: 2s\n  sessionAbsoluteTimeout: 3s\n")
	u := s.enrolledUser(t, "alice", "devs")
	path := "/api/v1/namespaces/e2e/pods"
	expired := s.login(t, u)
	revoked := s.login(t, u)
	if err := s.client(t).WithToken(revoked).Logout(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	cases := map[string]string{
		"no token":                "",
		"API server token":        env.cluster.AdminToken,
		"malformed":               "sgs_not-a-token",
		"expired":                 expired,
		"revoked (logged out)":    revoked,
		"service-token lookalike": "sgt_" + strings.Repeat("x", 43),
	}
	for name, token := range cases {
		code, st := s.status(t, http.MethodGet, path, token, nil)
		if code != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("%s: %d %+v", name, code, st)
		}
	}
	// kubectl with the API server's own token through stepgate: refused,
	// not passed on.
	out, err := kubectlWith(t, env.kubectl, kubectlEnv(t, t.TempDir()+"/none"),
		"--server", s.url, "--certificate-authority", s.dir+"/tls/ca.crt", "--token", env.cluster.AdminToken, "get", "ns")
	if err == nil || !strings.Contains(out, "You must be logged in to the server") {
		t.Errorf("kubectl with the API server's admin token through stepgate: %v\n%s", err, out)
	}
}

func TestSignInFailuresLookAlike(t *testing.T) {
	// The throttle is opened up so that what answers is the sign-in itself.
	s := startServer(t, "", "auth:\n  accountLock: {enabled: true, failureTriggers: 3, durationSeconds: 600}\n"+
		"  throttle: {attemptsPerMinute: 600, burst: 100}\n")
	u := s.enrolledUser(t, "alice", "devs")
	bob := s.enrolledUser(t, "bob", "devs")
	ctx := ctxFor(t, time.Minute)
	for i := 0; i < 3; i++ { // locks bob
		s.client(t).Login(ctx, web.LoginRequest{Username: "bob", Password: "not the password at all", Code: "000000"})
	}
	cases := map[string]web.LoginRequest{
		"wrong password": {Username: "alice", Password: "not the password at all", Code: u.otp.next(t)},
		"wrong code":     {Username: "alice", Password: u.password, Code: "000000"},
		"unknown user":   {Username: "mallory", Password: u.password, Code: "123456"},
		"locked account, right password and code": {Username: "bob", Password: bob.password, Code: bob.otp.next(t)},
	}
	var first string
	for name, req := range cases {
		_, err := s.client(t).Login(ctx, req)
		var ae *web.APIError
		if !asAPIError(err, &ae) || ae.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %v", name, err)
		}
		if first == "" {
			first = ae.Message
		}
		if ae.Message != first {
			t.Errorf("%s answered %q; another failure answered %q", name, ae.Message, first)
		}
	}
}

func asAPIError(err error, target **web.APIError) bool {
	ae, ok := err.(*web.APIError)
	if ok {
		*target = ae
	}
	return ok
}

// A refused exec must leave an ordinary HTTP connection, never a spliced
// one (CVE-2018-1002105).
func TestRefusedUpgradeIsNotSpliced(t *testing.T) {
	s := startServer(t, "", "")
	u := s.enrolledUser(t, "carol") // no RBAC: the API server refuses the exec
	token := s.login(t, u)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ca)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /api/v1/namespaces/e2e/pods/web/exec?command=sh&stdout=true HTTP/1.1\r\nHost: localhost\r\n"+
		"Authorization: Bearer "+token+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `resource \"pods/exec\"`) {
		t.Fatalf("exec without RBAC: %d %s", resp.StatusCode, body)
	}
	io.WriteString(conn, "GET /version HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "+token+"\r\n\r\n")
	resp2, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("after a refused upgrade the connection no longer speaks HTTP: %v", err)
	}
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("GET /version on the same connection: %d", resp2.StatusCode)
	}
}
