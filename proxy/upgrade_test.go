package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// upgrade sends a raw HTTP/1.1 WebSocket upgrade request and returns the
// connection and the response.
func upgrade(t *testing.T, f *fixture, path string) (*tls.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	return upgradeWith(t, f, "GET", path, "Upgrade: websocket\r\n")
}

// upgradeWith sends a raw HTTP/1.1 upgrade request with extra header
// lines (each ending in CRLF) and returns the connection and the response.
func upgradeWith(t *testing.T, f *fixture, method, path, extra string) (*tls.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := tls.Dial("tcp", f.srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, method+" "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+aliceToken+
		"\r\nConnection: Upgrade\r\n"+extra+"\r\n")
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
		const execPath = "/api/v1/namespaces/default/pods/web/exec"
		f.up.h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == execPath {
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"kind":"Status","code":403}`)
				return
			}
			io.WriteString(w, `{"kind":"NamespaceList"}`)
		}
		conn, br, resp := upgrade(t, f, execPath+"?command=sh")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
		io.Copy(io.Discard, resp.Body)
		// Not spliced: the same connection still speaks HTTP to stepgate,
		// which authenticates and rewrites the next request. Spliced, these
		// bytes would reach the API server as they are, with the client's
		// Authorization and without impersonation.
		io.WriteString(conn, "GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+aliceToken+"\r\n\r\n")
		resp2, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection no longer speaks HTTP after a refused upgrade: %v", err)
		}
		body, _ := io.ReadAll(resp2.Body)
		if resp2.StatusCode != http.StatusOK || string(body) != `{"kind":"NamespaceList"}` {
			t.Errorf("second request: %d %q", resp2.StatusCode, body)
		}
		type seen struct{ Method, Path, Upgrade, User, Authorization string }
		var got []seen
		for _, r := range f.up.all() {
			got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("Upgrade"), r.Header.Get("Impersonate-User"), r.Header.Get("Authorization")})
		}
		want := []seen{
			{Method: "GET", Path: execPath, Upgrade: "websocket", User: "alice"},
			{Method: "GET", Path: "/api/v1/namespaces", User: "alice"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("requests the API server saw (-want +got):\n%s", diff)
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
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		io.WriteString(conn, "ping\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "echo:ping\n" {
			t.Errorf("through the upgraded connection: %q %v", line, err)
		}
	})
}

func TestStripBearerProtocols(t *testing.T) {
	t.Parallel()
	const tok = "base64url.bearer.authorization.k8s.io.c2dzX2FwaXNlcnZlcg"
	cases := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"no header", http.Header{"Accept": {"*/*"}}, http.Header{"Accept": {"*/*"}}},
		{"others kept", http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"}},
			http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"}}},
		{"token among others", http.Header{"Sec-Websocket-Protocol": {tok + ", v5.channel.k8s.io,v4.channel.k8s.io"}},
			http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io, v4.channel.k8s.io"}}},
		{"token in its own value", http.Header{"Sec-Websocket-Protocol": {tok, "v5.channel.k8s.io"}},
			http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}},
		{"only a token", http.Header{"Sec-Websocket-Protocol": {tok}}, http.Header{}},
		{"other case", http.Header{"Sec-Websocket-Protocol": {"Base64URL.Bearer.Authorization.K8s.io.eA, v5.channel.k8s.io"}},
			http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}},
		{"non-canonical key", http.Header{"sec-websocket-protocol": {tok}}, http.Header{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.Clone()
			stripBearerProtocols(h)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBearerSubprotocolIsNotForwarded(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWFwaXNlcnZlci10b2tlbg" // base64url of a token the API server would accept
	f := newFixture(t, nil)
	f.up.h = switchUpstream("websocket", "v5.channel.k8s.io", nil)
	_, _, resp := upgradeWith(t, f, "GET", "/api/v1/namespaces/default/pods/web/exec?command=sh",
		"Upgrade: websocket\r\nSec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io."+secret+", v5.channel.k8s.io\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := f.up.last()
	if diff := cmp.Diff([]string{"v5.channel.k8s.io"}, got.Header.Values("Sec-WebSocket-Protocol")); diff != "" {
		t.Errorf("Sec-WebSocket-Protocol upstream (-want +got):\n%s", diff)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, secret) || strings.Contains(v, aliceToken) {
				t.Errorf("a client credential reached the API server in %s: %q", k, v)
			}
		}
	}
	if got.Header.Get("Impersonate-User") != "alice" {
		t.Errorf("Impersonate-User = %q", got.Header.Get("Impersonate-User"))
	}
}

func TestUpgradeWithBodyIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	const path = "/api/v1/namespaces/default/pods/web/exec?command=sh"
	cases := map[string]string{
		"small body":    "Content-Length: 5\r\n\r\nhello",
		"over the cap":  "Content-Length: 4096\r\n\r\n" + strings.Repeat("x", 4096),
		"chunked body":  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
		"chunked empty": "Transfer-Encoding: chunked\r\n\r\n0\r\n",
	}
	for name, tail := range cases {
		t.Run(name, func(t *testing.T) {
			// tail ends the header block itself; upgradeWith adds one more
			// CRLF, which the server reads as the next (empty) line.
			_, _, resp := upgradeWith(t, f, "POST", path, "Upgrade: SPDY/3.1\r\n"+tail)
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			var st metav1.Status
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &st) != nil ||
				st.Message != "stepgate: an upgrade request must not carry a body" {
				t.Errorf("got %d %q", resp.StatusCode, body)
			}
		})
	}
	if n := f.up.count(); n != 0 {
		t.Errorf("%d upgrade requests with a body reached the API server", n)
	}
}

// switchUpstream is an API server that answers an upgrade with 101, the
// protocol (if any), then the bytes first, and holds the connection until
// stepgate closes it.
func switchUpstream(upType, protocol string, first []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", upType)
		if protocol != "" {
			w.Header().Set("Sec-WebSocket-Protocol", protocol)
		}
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.Write(first)
		brw.Flush()
		io.Copy(io.Discard, brw)
	}
}
