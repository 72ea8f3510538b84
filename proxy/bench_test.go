package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// cannedUpstream answers every request in process, so the benchmark
// measures stepgate's own work, not a network or an API server.
type cannedUpstream struct{ body string }

func (u cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(u.body)), ContentLength: int64(len(u.body)), Request: r}, nil
}

// benchRules is a 50-rule policy of the kind the bench uses.
func benchRules(n int) []rules.Rule {
	var out []rules.Rule
	for i := 0; len(out) < n; i++ {
		team := fmt.Sprintf("team-%d", i)
		out = append(out,
			rules.Rule{Name: team + "-delete", Match: rules.Match{Groups: []string{team}, Verbs: []string{"delete"}, Namespaces: []string{team + "-*"}}, Action: rules.ActionStepUp},
			rules.Rule{Name: team + "-exec", Match: rules.Match{Resources: []string{"pods/exec"}, Namespaces: []string{team + "-prod"}}, Action: rules.ActionStepUp},
		)
	}
	return out[:n]
}

// benchHandler builds the real Handler over a real session manager (SQLite
// in a temp dir), 50 rules and a JSON audit log to io.Discard.
func benchHandler(b *testing.B) (http.Handler, string) {
	ctx := context.Background()
	store, err := session.OpenSQLite(ctx, filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	hasher, _ := mfa.NewPasswordHasher(mfa.PasswordHasherOptions{Params: mfa.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	key, _ := mfa.NewKeyBytes()
	sealer, _ := mfa.NewSealer(key)
	m, err := session.New(session.Options{Store: store, Hasher: hasher, Sealer: sealer, MFARequiredForGroups: []string{"nobody"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.CreateAccount(ctx, session.NewAccount{Name: "bench", Password: "a long enough passphrase", Groups: []string{"readers"}}, "b"); err != nil {
		b.Fatal(err)
	}
	res, err := m.Login(ctx, session.LoginRequest{User: "bench", Password: "a long enough passphrase"})
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.Compile(benchRules(50), "")
	if err != nil {
		b.Fatal(err)
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	h, err := New(Options{Sessions: m, Rules: set, Transport: cannedUpstream{body: `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"pod-7"}}`},
		UpstreamURL: "https://upstream.invalid", Logger: log, Metrics: &Metrics{}})
	if err != nil {
		b.Fatal(err)
	}
	return h, res.Token
}

// BenchmarkHandler is one GET of a pod through the whole request path:
// authenticate (cached), parse, decide, forward, audit.
func BenchmarkHandler(b *testing.B) {
	h, token := benchHandler(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/bench/pods/pod-7", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkFloor is the same request through a bare ReverseProxy with the
// same canned upstream, for comparison.
func BenchmarkFloor(b *testing.B) {
	up := cannedUpstream{body: `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"pod-7"}}`}
	target, _ := http.NewRequest(http.MethodGet, "https://upstream.invalid", nil)
	rp := newBareProxy(target.URL, up)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/bench/pods/pod-7", nil)
			r.Header.Set("Authorization", "Bearer x")
			w := httptest.NewRecorder()
			rp.ServeHTTP(w, r)
		}
	})
}
