package proxy

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

// TestUpstreamTransport: the transport built from the proxy's rest.Config
// authenticates as the proxy on every request, uses HTTP/2 for ordinary
// requests and HTTP/1.1 for upgrades (HTTP/2 cannot carry them).
func TestUpstreamTransport(t *testing.T) {
	t.Parallel()
	type seen struct{ Proto, Auth string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Proto, r.Header.Get("Authorization")})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	rt, err := NewUpstreamTransport(&rest.Config{Host: srv.URL, BearerToken: "proxy-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	if err != nil {
		t.Fatal(err)
	}
	for _, upgrade := range []string{"", "websocket", "SPDY/3.1"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api", nil)
		if upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", upgrade)
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("upgrade %q: %v", upgrade, err)
		}
		resp.Body.Close()
	}
	want := []seen{{"HTTP/2.0", "Bearer proxy-token"}, {"HTTP/1.1", "Bearer proxy-token"}, {"HTTP/1.1", "Bearer proxy-token"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests the API server saw (-want +got):\n%s", diff)
	}
}

// TestSelfSignedCreatedOnce: the CA is made on the first start and kept;
// the serving certificate is kept while it fits and reissued, by the same
// CA, when the hosts change or it nears expiry.
func TestSelfSignedCreatedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	p, err := EnsureSelfSigned(dir, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ca1, leaf1 := read(p.CAFile), read(p.CertFile)
	if st, err := os.Stat(p.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("serving key mode: %v %v", st, err)
	}
	if _, err := EnsureSelfSigned(dir, []string{"localhost"}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if read(p.CAFile) != ca1 || read(p.CertFile) != leaf1 {
		t.Error("a second start replaced a certificate that still fits")
	}
	if _, err := EnsureSelfSigned(dir, []string{"localhost", "stepgate.example.com"}, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if read(p.CAFile) != ca1 {
		t.Error("new hosts replaced the CA; kubeconfigs holding it would break")
	}
	leaf2 := read(p.CertFile)
	if leaf2 == leaf1 {
		t.Error("the serving certificate was not reissued for the new host")
	}
	cfg, err := LoadServingTLS(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cfg.GetCertificate(nil)
	if err != nil || cert.Leaf == nil {
		t.Fatalf("serving certificate: %v", err)
	}
	if err := cert.Leaf.VerifyHostname("stepgate.example.com"); err != nil {
		t.Errorf("reissued certificate: %v", err)
	}
}
