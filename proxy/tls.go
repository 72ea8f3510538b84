package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// SelfSigned is the certificate stepgate makes for itself when none is
// configured: a private CA (kept in the data dir, embedded in generated
// kubeconfigs) and a serving certificate it signs.
type SelfSigned struct {
	CAFile, CertFile, KeyFile string
}

// SelfSignedPaths returns where the self-signed material lives under dir.
func SelfSignedPaths(dir string) SelfSigned {
	d := filepath.Join(dir, "tls")
	return SelfSigned{CAFile: filepath.Join(d, "ca.crt"), CertFile: filepath.Join(d, "tls.crt"), KeyFile: filepath.Join(d, "tls.key")}
}

// EnsureSelfSigned creates the CA once and (re)issues the serving
// certificate when it is missing, due to expire within 30 days, or not
// valid for hosts. It returns the paths.
func EnsureSelfSigned(dir string, hosts []string, now time.Time) (SelfSigned, error) {
	p := SelfSignedPaths(dir)
	if err := os.MkdirAll(filepath.Dir(p.CAFile), 0o700); err != nil {
		return p, fmt.Errorf("self-signed certificate: %w", err)
	}
	caKeyFile := filepath.Join(filepath.Dir(p.CAFile), "ca.key")
	ca, caKey, err := loadPair(p.CAFile, caKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		ca, caKey, err = newCA(p.CAFile, caKeyFile, now)
	}
	if err != nil {
		return p, fmt.Errorf("self-signed ca: %w", err)
	}
	if leaf, _, err := loadPair(p.CertFile, p.KeyFile); err == nil && leafFits(leaf, ca, hosts, now) {
		return p, nil
	}
	if err := issueServing(p, ca, caKey, hosts, now); err != nil {
		return p, fmt.Errorf("self-signed serving certificate: %w", err)
	}
	return p, nil
}

func leafFits(leaf, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if now.Add(30*24*time.Hour).After(leaf.NotAfter) || leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func newCA(certFile, keyFile string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "stepgate self-signed CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func issueServing(p SelfSigned, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "stepgate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(p.CertFile, p.KeyFile, der, key)
}

// writePair writes both files via temporary names so a crash never leaves
// half a certificate.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if _, statErr := os.Stat(certFile); errors.Is(statErr, os.ErrNotExist) {
			return nil, nil, os.ErrNotExist
		}
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("key is not ECDSA")
	}
	return cert, key, nil
}

// LoadServingTLS loads a certificate and key for the listener. The files
// are read again on each new TLS handshake when they change on disk, so a
// renewed certificate takes effect without a restart.
func LoadServingTLS(certFile, keyFile string) (*tls.Config, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}, nil
}

type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	state             certState
}

type certState struct {
	modTime time.Time
	cert    *tls.Certificate
}

func (r *certReloader) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load serving certificate: %w", err)
	}
	return &c, nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st, err := os.Stat(r.certFile)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.cert != nil && st.ModTime().Equal(r.state.modTime) {
		return r.state.cert, nil
	}
	c, err := r.load()
	if err != nil {
		if r.state.cert != nil {
			return r.state.cert, nil // keep serving the old one while a rename is half done
		}
		return nil, err
	}
	r.state = certState{modTime: st.ModTime(), cert: c}
	return c, nil
}

// ReadCA returns the PEM CA of a self-signed setup, for kubeconfigs.
func ReadCA(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read ca: %w", err)
	}
	if !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		return nil, fmt.Errorf("read ca %s: no PEM certificate", file)
	}
	return b, nil
}
