package proxy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

func TestRevokedBeforeUpstreamAnswers(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/namespaces/default/pods"
	t.Run("revoked", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.up.h = func(w http.ResponseWriter, r *http.Request) {
			f.sessions.revoke() // the session is revoked while stepgate waits for the headers
			<-r.Context().Done()
		}
		resp, st := f.do(t, http.MethodGet, path+"?watch=true", bearer(aliceToken), "")
		if resp.StatusCode != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized || st.Message != revokedMessage {
			t.Errorf("got %d %+v", resp.StatusCode, st)
		}
		f.waitServed(t, path)
		if code := auditCode(t, f, path); code != http.StatusUnauthorized {
			t.Errorf("audit code %d, want 401", code)
		}
	})
	t.Run("client went away", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.up.h = func(w http.ResponseWriter, r *http.Request) {
			cancel() // the client gives up while stepgate waits for the headers
			<-r.Context().Done()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path+"?watch=true", nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		if resp, err := f.srv.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the request outlived its client: %d", resp.StatusCode)
		}
		f.waitServed(t, path)
		if code := auditCode(t, f, path); code != 499 {
			t.Errorf("audit code %d, want 499 (client closed request)", code)
		}
	})
}

// auditCode returns the code of the audit line for path.
func auditCode(t *testing.T, f *fixture, path string) int64 {
	t.Helper()
	for _, e := range f.logs.FilterMessage("request").All() {
		m := e.ContextMap()
		if uri, _ := m["requestURI"].(string); strings.HasPrefix(uri, path) {
			code, _ := m["code"].(int64)
			return code
		}
	}
	t.Fatalf("no audit line for %s", path)
	return 0
}

func TestFrameTracker(t *testing.T) {
	t.Parallel()
	ext16 := append([]byte{0x82, 126, 0x00, 0x80}, make([]byte, 128)...)
	ext64 := append([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00}, make([]byte, 256)...)
	cases := []struct {
		name      string
		in        []byte
		between   bool
		errStream bool
	}{
		{"nothing yet", nil, true, false},
		{"one binary frame", []byte{0x82, 0x02, 0x01, 'x'}, true, false},
		{"first header byte", []byte{0x82}, false, false},
		{"header without payload", []byte{0x82, 0x02}, false, false},
		{"half the payload", []byte{0x82, 0x02, 0x01}, false, false},
		{"16-bit length", ext16, true, false},
		{"16-bit length, one byte short", ext16[:len(ext16)-1], false, false},
		{"64-bit length", ext64, true, false},
		{"64-bit length, header only", ext64[:10], false, false},
		{"masked frame", []byte{0x82, 0x82, 1, 2, 3, 4, 'a', 'b'}, true, false},
		{"empty frame", []byte{0x82, 0x00}, true, false},
		{"ping", []byte{0x89, 0x00}, true, false},
		{"first fragment", []byte{0x02, 0x01, 0x01}, false, false},
		{"fragment then ping", []byte{0x02, 0x01, 0x01, 0x89, 0x00}, false, false},
		{"fragment then final continuation", []byte{0x02, 0x01, 0x01, 0x80, 0x01, 'x'}, true, false},
		{"close frame", []byte{0x88, 0x02, 0x03, 0xe8}, false, false},
		{"error channel", []byte{0x82, 0x02, 0x03, '{'}, true, true},
		{"continuation starting with 3", []byte{0x02, 0x01, 0x01, 0x80, 0x01, 0x03}, true, false},
		{"two frames", []byte{0x82, 0x01, 0x01, 0x82, 0x02, 0x03, '{'}, true, true},
		{"empty first fragment, then channel 3", []byte{0x02, 0x00, 0x80, 0x02, 0x03, '{'}, true, true},
		{"ping payload 3 inside a message", []byte{0x02, 0x01, 0x01, 0x89, 0x01, 0x03, 0x80, 0x00}, true, false},
		{"ping payload 3 before a message", []byte{0x89, 0x01, 0x03, 0x82, 0x02, 0x01, 'x'}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= max(len(tc.in), 1); size++ {
				var fr frameTracker
				for p := tc.in; len(p) > 0; {
					k := min(size, len(p))
					fr.advance(p[:k])
					p = p[k:]
				}
				if fr.between() != tc.between || fr.errChannel != tc.errStream {
					t.Errorf("in writes of %d bytes: between %v, error channel %v; want %v, %v", size, fr.between(), fr.errChannel, tc.between, tc.errStream)
				}
			}
		})
	}
}

type wsFrame struct {
	Op      byte
	Payload string
}

// readFrames splits unmasked, final server frames (test data stays under
// 64 KiB).
func readFrames(t *testing.T, b []byte) []wsFrame {
	t.Helper()
	var out []wsFrame
	for len(b) > 0 {
		if len(b) < 2 || b[0]&0x80 == 0 || b[1]&0x80 != 0 {
			t.Fatalf("not a final unmasked frame: %x", b)
		}
		n, hdr := int(b[1]&0x7f), 2
		if n == 126 {
			n, hdr = int(binary.BigEndian.Uint16(b[2:4])), 4
		}
		if len(b) < hdr+n {
			t.Fatalf("short frame: %x", b)
		}
		out = append(out, wsFrame{Op: b[0] & 0x0f, Payload: string(b[hdr : hdr+n])})
		b = b[hdr+n:]
	}
	return out
}

func TestRevokedUpgradeGoodbye(t *testing.T) {
	t.Parallel()
	status, _ := json.Marshal(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Reason: metav1.StatusReasonUnauthorized, Code: http.StatusUnauthorized, Message: revokedMessage})
	statusFrame := wsFrame{Op: 0x2, Payload: "\x03" + string(status)}
	normalClose := wsFrame{Op: 0x8, Payload: "\x03\xe8"}
	policyClose := wsFrame{Op: 0x8, Payload: "\x03\xf0" + revokedMessage}
	cases := []struct {
		name, sub, upType, protocol string
		first                       []byte
		want                        []wsFrame // nil: closed without a byte more
	}{
		{"exec v5 between frames", "exec", "websocket", "v5.channel.k8s.io", []byte("\x82\x03\x01hi"), []wsFrame{statusFrame, normalClose}},
		{"attach v4 between frames", "attach", "websocket", "v4.channel.k8s.io", []byte("\x82\x03\x01hi"), []wsFrame{statusFrame, normalClose}},
		{"exec before any frame", "exec", "websocket", "v5.channel.k8s.io", nil, []wsFrame{statusFrame, normalClose}},
		{"exec after the error channel", "exec", "websocket", "v5.channel.k8s.io", []byte("\x82\x03\x03{}"), []wsFrame{normalClose}},
		{"exec mid-frame", "exec", "websocket", "v5.channel.k8s.io", []byte("\x82\x05\x01hi"), nil},
		{"exec mid-message", "exec", "websocket", "v5.channel.k8s.io", []byte("\x02\x03\x01hi"), nil},
		{"exec after a close frame", "exec", "websocket", "v5.channel.k8s.io", []byte("\x88\x02\x03\xe8"), nil},
		{"exec base64 protocol", "exec", "websocket", "v4.base64.channel.k8s.io", []byte("\x81\x04\x31aGk"), []wsFrame{policyClose}},
		{"portforward websocket", "portforward", "websocket", "v4.channel.k8s.io", []byte("\x82\x03\x00\x50\x00"), []wsFrame{policyClose}},
		{"exec SPDY", "exec", "SPDY/3.1", "", []byte("spdy frames"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.up.h = switchUpstream(tc.upType, tc.protocol, tc.first)
			extra := "Upgrade: " + tc.upType + "\r\n"
			if tc.protocol != "" {
				extra += "Sec-WebSocket-Protocol: " + tc.protocol + "\r\n"
			}
			_, br, resp := upgradeWith(t, f, "GET", "/api/v1/namespaces/default/pods/web/"+tc.sub, extra)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := make([]byte, len(tc.first))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != string(tc.first) {
				t.Fatalf("spliced bytes %q, %v", got, err)
			}
			f.sessions.revoke()
			rest, _ := io.ReadAll(br) // until stepgate closes the connection
			if tc.want == nil {
				if len(rest) != 0 {
					t.Errorf("wrote %q after the revocation; want a plain close", rest)
				}
				return
			}
			if diff := cmp.Diff(tc.want, readFrames(t, rest)); diff != "" {
				t.Errorf("frames after the revocation (-want +got):\n%s", diff)
			}
		})
	}
}

// firstWrite signals the first write to it.
type firstWrite struct {
	once sync.Once
	ch   chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}

// TestRevokedExecFailsInClientGo runs client-go's WebSocket executor (what
// kubectl exec uses) through stepgate and revokes the session mid-exec:
// the command must fail with the reason, not end as a success.
func TestRevokedExecFailsInClientGo(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"v5.channel.k8s.io", "v4.channel.k8s.io"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.up.h = func(w http.ResponseWriter, r *http.Request) {
				up := websocket.Upgrader{Subprotocols: []string{proto}}
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				c.WriteMessage(websocket.BinaryMessage, []byte("\x01hello\n"))
				for {
					if _, _, err := c.NextReader(); err != nil {
						return
					}
				}
			}
			cfg := &rest.Config{Host: f.srv.URL, BearerToken: aliceToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
			ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, http.MethodGet,
				f.srv.URL+"/api/v1/namespaces/default/pods/web/exec?command=sh&stdout=true", proto)
			if err != nil {
				t.Fatal(err)
			}
			out := &firstWrite{ch: make(chan struct{})}
			errc := make(chan error, 1)
			go func() { errc <- ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: out}) }()
			select {
			case <-out.ch:
			case err := <-errc:
				t.Fatalf("exec ended before any output: %v", err)
			}
			f.sessions.revoke()
			err = <-errc
			if err == nil || err.Error() != revokedMessage {
				t.Errorf("exec ended with %v; want the error %q", err, revokedMessage)
			}
			var exitErr interface{ ExitStatus() int }
			if errors.As(err, &exitErr) {
				t.Errorf("revocation reported as an exit code: %v", err)
			}
		})
	}
}

// TestRevokedStreamEndsWhenTheClientStopsReading: a client that stops
// reading while the API server floods it (cat /dev/urandom, then Ctrl-Z)
// would block both of ReverseProxy's copies for ever; after a revocation
// the client connection gets deadlines, so the handler ends and the
// connection is closed anyway.
func TestRevokedStreamEndsWhenTheClientStopsReading(t *testing.T) {
	t.Parallel()
	for _, up := range []struct{ typ, protocol string }{{"SPDY/3.1", ""}, {"websocket", "v5.channel.k8s.io"}} {
		t.Run(up.typ, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			const path = "/api/v1/namespaces/default/pods/web/exec"
			f.up.h = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", up.typ)
				if up.protocol != "" {
					w.Header().Set("Sec-WebSocket-Protocol", up.protocol)
				}
				w.WriteHeader(http.StatusSwitchingProtocols)
				c, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer c.Close()
				frame := append([]byte{0x82, 126, 0x10, 0x00, 0x01}, make([]byte, 0x1000-1)...) // 4 KiB on channel 1
				for {
					if _, err := c.Write(frame); err != nil {
						return
					}
				}
			}
			extra := "Upgrade: " + up.typ + "\r\n"
			if up.protocol != "" {
				extra += "Sec-WebSocket-Protocol: " + up.protocol + "\r\n"
			}
			conn, _, resp := upgradeWith(t, f, "GET", path, extra)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// Read nothing more: buffers fill and stepgate's copy blocks.
			time.Sleep(200 * time.Millisecond)
			f.sessions.revoke()
			done := make(chan struct{})
			go func() { f.waitServed(t, path); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("the revoked stream's handler never ended while its client was not reading")
			}
			// What was in flight may still arrive, then the connection ends
			// (cleanly or not: a write cut by its deadline breaks a record).
			conn.SetReadDeadline(time.Now().Add(time.Minute))
			_, err := io.Copy(io.Discard, conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("the client connection was left open: %v", err)
			}
		})
	}
}
