package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Client calls a stepgate server's API. Token, when set, is sent as the
// bearer token.
type Client struct {
	base  *url.URL
	http  *http.Client
	Token string
}

// APIError is a failure Status the server answered with.
type APIError struct {
	Code       int
	Message    string
	Reason     metav1.StatusReason
	RetryAfter string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("stepgate answered %d", e.Code)
	}
	return e.Message
}

// IsStatus reports whether err is an APIError with that code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// NewClient returns a client for server (an https:// URL). caPEM, when
// not empty, is the only CA trusted for the server.
func NewClient(server string, caPEM []byte) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want an https:// URL", server)
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the certificate authority data holds no PEM certificate")
		}
		tcfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: tcfg, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
	}
	return &Client{base: u, http: &http.Client{Transport: tr, Timeout: time.Minute}}, nil
}

// WithToken returns a copy of the client that sends token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}

// Do calls method path with in as the JSON body (nil for none) and decodes
// a JSON answer into out (nil to ignore it).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base.JoinPath(path)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u = c.base.JoinPath(path[:i])
		u.RawQuery = path[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach stepgate at %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read stepgate's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Code: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
		var st metav1.Status
		if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
			ae.Message, ae.Reason = st.Message, st.Reason
		}
		return ae
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode stepgate's answer: %w", err)
	}
	return nil
}

// Login signs in and returns the session with its token.
func (c *Client) Login(ctx context.Context, req LoginRequest) (*SessionInfo, error) {
	var out SessionInfo
	return &out, c.Do(ctx, http.MethodPost, PathLogin, req, &out)
}

// Session returns who the token belongs to and any pending step-up.
func (c *Client) Session(ctx context.Context) (*SessionInfo, error) {
	var out SessionInfo
	return &out, c.Do(ctx, http.MethodGet, PathSession, nil, &out)
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, PathSession, nil, nil)
}

// StepUp answers a pending step-up or elevates.
func (c *Client) StepUp(ctx context.Context, req StepUpRequest) (*StepUpResponse, error) {
	var out StepUpResponse
	return &out, c.Do(ctx, http.MethodPost, PathStepUp, req, &out)
}

// BeginEnrollment starts TOTP enrollment.
func (c *Client) BeginEnrollment(ctx context.Context) (*EnrollResponse, error) {
	var out EnrollResponse
	return &out, c.Do(ctx, http.MethodPost, PathTOTP, struct{}{}, &out)
}

// ConfirmEnrollment finishes TOTP enrollment with a code from the new secret.
func (c *Client) ConfirmEnrollment(ctx context.Context, code string) (*ConfirmResponse, error) {
	var out ConfirmResponse
	return &out, c.Do(ctx, http.MethodPost, PathTOTPConfirm, CodeRequest{Code: code}, &out)
}

// DisableTOTP switches TOTP off with a current code.
func (c *Client) DisableTOTP(ctx context.Context, code string) error {
	return c.Do(ctx, http.MethodPost, PathTOTPDisable, CodeRequest{Code: code}, nil)
}

// RegenerateRecoveryCodes replaces the recovery codes, with a current code.
func (c *Client) RegenerateRecoveryCodes(ctx context.Context, code string) ([]string, error) {
	var out RecoveryCodesResponse
	err := c.Do(ctx, http.MethodPost, PathRecoveryCodes, CodeRequest{Code: code}, &out)
	return out.RecoveryCodes, err
}
