package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"stepgate.io/stepgate/internal/apistatus"
)

// errRevoked is the cancel cause of a stream whose session was revoked:
// forward hands Sessions.TrackStream a cancel that records it, so the
// proxy can tell revocation from a client that went away.
var errRevoked = errors.New("the session was revoked")

// revokedMessage is what a person whose request or stream was cut by a
// revocation is told.
const revokedMessage = "stepgate: the session was revoked; sign in again (stepgate login)"

func revoked(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errRevoked) }

// closeWriteTimeout bounds the goodbye frames written to a revoked
// WebSocket client, so a client that stopped reading cannot hold the
// connection open.
const closeWriteTimeout = 5 * time.Second

// upgradeWriter is the ResponseWriter ReverseProxy gets for an upgrade.
// After a 101 to a WebSocket upgrade its Hijack returns a wsConn, which
// follows the server's frames so that, when the session is revoked, it can
// end the stream with a message instead of a bare close. For anything
// else (SPDY, a refused upgrade) it hands out the plain connection.
type upgradeWriter struct {
	http.ResponseWriter
	ctx context.Context // the stream's context; its cause says whether it was revoked
	f   *forward        // modifyResponse records the negotiated protocol here
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack implements http.Hijacker. Once the stream's context ends (the
// session was revoked, the server is shutting down) the client connection
// gets deadlines, so a client that stopped reading or writing cannot keep
// ReverseProxy's two copies, and the connection, alive: the copies end and
// the connection is closed (with goodbye frames, for a WebSocket).
func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	context.AfterFunc(w.ctx, func() {
		_ = c.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		_ = c.SetReadDeadline(time.Now())
	})
	if !w.f.websocket {
		return c, brw, nil
	}
	// exec and attach speak the channel protocols, where channel 3 carries
	// a metav1.Status that client-go turns into the command's error.
	status := (w.f.subresource == "exec" || w.f.subresource == "attach") &&
		(w.f.wsProtocol == "v4.channel.k8s.io" || w.f.wsProtocol == "v5.channel.k8s.io")
	return &wsConn{Conn: c, ctx: w.ctx, status: status}, brw, nil
}

// wsConn is the client side of a spliced WebSocket. Every byte the API
// server sends passes through Write, so the tracker knows where frames
// end. On Close after a revocation, if the stream stands between two
// messages, it writes a Status on the error channel (status) or a close
// frame with code 1008 (otherwise) before closing; mid-frame it just
// closes.
type wsConn struct {
	net.Conn
	ctx    context.Context
	status bool

	mu   sync.Mutex
	fr   frameTracker // guarded by mu
	done bool         // guarded by mu: no more writes (closed, or write side shut)
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	c.fr.advance(p[:n])
	return n, err
}

// CloseWrite passes the API server's end of stream on, as ReverseProxy
// does for a plain connection.
func (c *wsConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *wsConn) Close() error {
	if revoked(c.ctx) {
		// Unblock a write stuck on a slow client before taking the lock.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		c.mu.Lock()
		if !c.done && c.fr.between() {
			_, _ = c.Conn.Write(c.goodbye())
		}
		c.done = true
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// goodbye is what a revoked client is sent: for exec and attach a Status
// on channel 3 (unless the API server already sent one) and a normal close,
// which client-go reports as the command's error; for other protocols a
// policy-violation close frame carrying the message.
func (c *wsConn) goodbye() []byte {
	if !c.status {
		return appendFrame(nil, 0x8, binary.BigEndian.AppendUint16(nil, 1008), []byte(revokedMessage))
	}
	var out []byte
	if !c.fr.errChannel {
		body, _ := json.Marshal(apistatus.Status(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, revokedMessage))
		out = appendFrame(out, 0x2, []byte{3}, body)
	}
	return appendFrame(out, 0x8, binary.BigEndian.AppendUint16(nil, 1000), nil)
}

// appendFrame appends one unmasked, final WebSocket frame of opcode op
// whose payload is a followed by b.
func appendFrame(dst []byte, op byte, a, b []byte) []byte {
	n := len(a) + len(b)
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
	return append(append(dst, a...), b...)
}

// frameTracker follows the frames a WebSocket server writes (RFC 6455
// section 5.2): a 2-byte header, a 2- or 8-byte extended length, a mask
// key if masked (servers do not mask), then the payload.
type frameTracker struct {
	hdr        [14]byte
	n          int    // header bytes of the current frame seen so far
	left       uint64 // payload bytes of the current frame still to come
	inMessage  bool   // a fragmented data message has begun and not ended
	closed     bool   // the server sent a close frame
	firstByte  bool   // the next data payload byte is a message's first (its channel)
	control    bool   // the current frame is a control frame (ping, pong, close)
	errChannel bool   // a message on channel 3 (the error stream) was sent
}

func (t *frameTracker) advance(p []byte) {
	for len(p) > 0 {
		if t.left > 0 {
			if t.firstByte && !t.control {
				t.errChannel = t.errChannel || p[0] == 3
				t.firstByte = false
			}
			k := min(uint64(len(p)), t.left)
			t.left -= k
			p = p[k:]
			continue
		}
		t.hdr[t.n] = p[0]
		t.n++
		p = p[1:]
		if t.n >= 2 && t.n == headerLen(t.hdr[1]) {
			t.endHeader()
		}
	}
}

func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func (t *frameTracker) endHeader() {
	fin, op := t.hdr[0]&0x80 != 0, t.hdr[0]&0x0f
	switch l := t.hdr[1] & 0x7f; l {
	case 126:
		t.left = uint64(binary.BigEndian.Uint16(t.hdr[2:4]))
	case 127:
		t.left = binary.BigEndian.Uint64(t.hdr[2:10])
	default:
		t.left = uint64(l)
	}
	t.control = op >= 0x8 // ping and pong may sit inside a message; their payload is not data
	switch {
	case op == 0x8:
		t.closed = true
	case op == 0x1 || op == 0x2: // a new message: its first payload byte, in whichever fragment, is the channel
		t.firstByte = true
		t.inMessage = !fin
	case op == 0x0: // a continuation keeps a pending first byte (earlier fragments may be empty)
		t.inMessage = !fin
	}
	t.n = 0
}

// between reports whether a new message may be written now: at a frame
// boundary, outside a fragmented message, before any close frame.
func (t *frameTracker) between() bool {
	return t.n == 0 && t.left == 0 && !t.inMessage && !t.closed
}
