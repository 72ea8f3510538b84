// Package apistatus writes Kubernetes metav1.Status error bodies, the one
// error shape kubectl and client-go turn into a readable sentence. Both the
// proxy and the web API answer with it, so it sits below both.
package apistatus

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status builds a failure Status.
func Status(code int, reason metav1.StatusReason, message string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   reason,
		Code:     int32(code),
	}
}

// Write sends a failure Status with the given code, reason and message.
func Write(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	WriteStatus(w, Status(code, reason, message))
}

// WriteStatus sends s as the response, with its Code as the HTTP status.
func WriteStatus(w http.ResponseWriter, s *metav1.Status) {
	body, err := json.Marshal(s)
	if err != nil { // a Status always marshals; keep the answer well-formed anyway
		body = []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(int(s.Code))
	w.Write(append(body, '\n'))
}

// Reason returns the conventional StatusReason for an HTTP code.
func Reason(code int) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusUnsupportedMediaType:
		return metav1.StatusReasonUnsupportedMediaType
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusTooManyRequests:
		return metav1.StatusReasonTooManyRequests
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		return metav1.StatusReasonTimeout
	default:
		return metav1.StatusReasonInternalError
	}
}

// Error sends a Status with the conventional reason for code.
func Error(w http.ResponseWriter, code int, message string) {
	Write(w, code, Reason(code), message)
}

// ErrorFor is Error for a request r. client-go's aggregated-discovery
// client (the first requests every kubectl command makes) cannot decode a
// Status body and reports "unknown" instead of its message, but it shows a
// text/plain body as written; so a request that asks for discovery
// documents gets the same sentence as text, and every other request the
// Status.
func ErrorFor(w http.ResponseWriter, r *http.Request, code int, message string) {
	if !wantsDiscovery(r) {
		Error(w, code, message)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, message+"\n")
}

func wantsDiscovery(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "g=apidiscovery.k8s.io") {
			return true
		}
	}
	return false
}
