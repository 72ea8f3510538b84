package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's key material, generated fresh for every cluster.
type pki struct {
	caPEM  []byte
	caFile string
	// apiserver serves the API; kwok serves the kubelet endpoints, and the
	// API server checks it against the CA.
	apiserverCert, apiserverKey string
	kwokCert, kwokKey           string
	// saPub and saKey verify and sign service-account tokens.
	saPub, saKey string
}

// certLifetime is how long the generated certificates are valid.
const certLifetime = 30 * 24 * time.Hour

// newPKI writes a CA, serving certificates for the API server and kwok on
// loopback, and the service-account key pair into dir.
func newPKI(dir string) (*pki, error) {
	p := &pki{
		caFile:        filepath.Join(dir, "ca.crt"),
		apiserverCert: filepath.Join(dir, "apiserver.crt"), apiserverKey: filepath.Join(dir, "apiserver.key"),
		kwokCert: filepath.Join(dir, "kwok.crt"), kwokKey: filepath.Join(dir, "kwok.key"),
		saPub: filepath.Join(dir, "sa.pub"), saKey: filepath.Join(dir, "sa.key"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	caTmpl, err := certTemplate("stepgate-harness-ca")
	if err != nil {
		return nil, err
	}
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caTmpl.BasicConstraintsValid, caTmpl.IsCA = true, true
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse ca: %w", err)
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(p.caFile, p.caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write ca: %w", err)
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	apiserverNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if err := issueServing(ca, caKey, "kube-apiserver", apiserverNames, loopback, p.apiserverCert, p.apiserverKey); err != nil {
		return nil, err
	}
	if err := issueServing(ca, caKey, "kwok", []string{"localhost", NodeName}, loopback, p.kwokCert, p.kwokKey); err != nil {
		return nil, err
	}
	if err := writeServiceAccountKeys(p.saPub, p.saKey); err != nil {
		return nil, err
	}
	return p, nil
}

func certTemplate(cn string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
	}, nil
}

// issueServing writes a serving certificate and its key signed by the CA.
func issueServing(ca *x509.Certificate, caKey crypto.Signer, cn string, dns []string, ips []net.IP, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate %s key: %w", cn, err)
	}
	tmpl, err := certTemplate(cn)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.DNSNames, tmpl.IPAddresses = dns, ips
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create %s certificate: %w", cn, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal %s key: %w", cn, err)
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600)
}

// writeServiceAccountKeys writes an RSA key pair (RS256, what every token
// consumer accepts) for service-account tokens.
func writeServiceAccountKeys(pubPath, keyPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal service-account public key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal service-account key: %w", err)
	}
	if err := writePEM(pubPath, "PUBLIC KEY", pubDER, 0o644); err != nil {
		return err
	}
	return writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// newToken returns a random token for the API server's static token file.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
