package bench

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"stepgate.io/stepgate/proxy"
)

// ExecResult is exec stdout throughput over WebSocket.
type ExecResult struct {
	Bytes         int64   `json:"bytes"`
	Rounds        int     `json:"rounds"`
	DirectMiBps   float64 `json:"directMiBps"`
	FloorMiBps    float64 `json:"floorMiBps"`
	StepgateMiBps float64 `json:"stepgateMiBps"`
}

type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func (e *env) execThroughput(ctx context.Context) (ExecResult, error) {
	res := ExecResult{Bytes: e.opts.ExecBytes, Rounds: 3}
	s := e.session
	direct := &rest.Config{Host: e.cluster.Server, BearerToken: e.cluster.ProxyToken, TLSClientConfig: rest.TLSClientConfig{CAData: e.cluster.CAData},
		Impersonate: rest.ImpersonationConfig{UserName: s.User, UID: s.UID, Groups: s.Groups, Extra: map[string][]string{
			unescape(proxy.ExtraSession): {s.SessionID}, unescape(proxy.ExtraMFAAt): {s.MFAAt.UTC().Format(time.RFC3339)},
		}}}
	sg := &rest.Config{Host: e.sgURL, BearerToken: e.token, TLSClientConfig: rest.TLSClientConfig{CAData: e.sgCA}}
	// The floor sets the impersonation headers itself; the token it is
	// sent is dropped like any client credential.
	floor := &rest.Config{Host: e.floorURL, BearerToken: "unused", TLSClientConfig: rest.TLSClientConfig{CAData: e.floorCA}}
	var dTotal, fTotal, sTotal time.Duration
	for round := 0; round < res.Rounds; round++ {
		for _, c := range []struct {
			cfg   *rest.Config
			total *time.Duration
		}{{direct, &dTotal}, {floor, &fTotal}, {sg, &sTotal}} {
			d, err := execOnce(ctx, c.cfg, e.opts.ExecBytes)
			if err != nil {
				return res, err
			}
			*c.total += d
		}
	}
	mib := float64(e.opts.ExecBytes*int64(res.Rounds)) / (1 << 20)
	res.DirectMiBps, res.FloorMiBps, res.StepgateMiBps = mib/dTotal.Seconds(), mib/fTotal.Seconds(), mib/sTotal.Seconds()
	return res, nil
}

func unescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// execOnce streams n bytes of zeros from the pod's shell to stdout.
func execOnce(ctx context.Context, cfg *rest.Config, n int64) (time.Duration, error) {
	q := url.Values{"container": {"main"}, "stdout": {"true"}, "command": {"sh", "-c", fmt.Sprintf("head -c %d /dev/zero", n)}}
	u, err := url.Parse(cfg.Host + "/api/v1/namespaces/" + benchNS + "/pods/pod-0/exec?" + q.Encode())
	if err != nil {
		return 0, err
	}
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return 0, err
	}
	var out counter
	start := time.Now()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out}); err != nil {
		return 0, fmt.Errorf("exec via %s: %w", cfg.Host, err)
	}
	d := time.Since(start)
	if out.n.Load() != n {
		return 0, fmt.Errorf("exec via %s: %d bytes, want %d", cfg.Host, out.n.Load(), n)
	}
	return d, nil
}
