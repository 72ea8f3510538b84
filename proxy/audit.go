package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// auditEvent is one request's audit record, logged when the request ends
// in the shape of an audit.k8s.io/v1 Event where that fits.
type auditEvent struct {
	start    time.Time
	auditID  string
	method   string
	uri      string
	p        *session.Principal
	attrs    *rules.Attributes
	decision string
	rule     string
	status   int
}

func (h *Handler) logRequest(ev *auditEvent, end time.Time) {
	ce := h.audit.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("auditID", ev.auditID),
		zap.String("stage", "ResponseComplete"),
		zap.String("requestURI", ev.uri),
		zap.String("method", ev.method),
		zap.Int("code", ev.status),
		zap.String("decision", ev.decision),
		zap.Duration("latency", end.Sub(ev.start)),
	}
	if ev.rule != "" {
		fields = append(fields, zap.String("rule", ev.rule))
	}
	if ev.p != nil {
		fields = append(fields, zap.Object("user", userInfo{ev.p}), zap.String("session", ev.p.SessionID))
	}
	if a := ev.attrs; a != nil {
		fields = append(fields, zap.String("verb", a.Verb))
		if a.ResourceRequest {
			fields = append(fields, zap.Object("objectRef", objectRef{a}))
		}
	}
	ce.Write(fields...)
}

type userInfo struct{ p *session.Principal }

func (u userInfo) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("username", u.p.User)
	enc.AddString("uid", u.p.UID)
	return enc.AddArray("groups", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
		for _, g := range u.p.Groups {
			ae.AppendString(g)
		}
		return nil
	}))
}

type objectRef struct{ a *rules.Attributes }

func (o objectRef) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	a := o.a
	enc.AddString("resource", a.Resource)
	if a.Subresource != "" {
		enc.AddString("subresource", a.Subresource)
	}
	if a.APIGroup != "" {
		enc.AddString("apiGroup", a.APIGroup)
	}
	if a.Namespace != "" {
		enc.AddString("namespace", a.Namespace)
	}
	if a.Name != "" {
		enc.AddString("name", a.Name)
	}
	return nil
}

// idSource makes unique audit ids cheaply: a random per-process prefix
// and a counter, instead of crypto/rand on every request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &idSource{prefix: hex.EncodeToString(b) + "-"}
}

func (s *idSource) next() string {
	return s.prefix + strconv.FormatUint(s.n.Add(1), 36)
}
