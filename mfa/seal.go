package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length in bytes of a sealing key (AES-256).
const KeySize = 32

const (
	sealPrefix = "v1."
	// maxSealedLen bounds what Open decodes; sealed secrets are small.
	maxSealedLen = 1 << 16
	// maxKeyFileSize bounds what LoadOrCreateKeyFile reads.
	maxKeyFileSize = 1 << 10
)

// ErrSealedSecret reports a sealed secret that does not open: the wrong
// key, the wrong associated data (owner), damage or tampering, or text
// that is not in Seal's format. Which of these it was is not told.
var ErrSealedSecret = errors.New("sealed secret does not open: wrong key, wrong owner or damaged")

// Sealer encrypts small secrets at rest with AES-256-GCM. Associated data
// binds a ciphertext to its owner (an account id, say), so a sealed secret
// copied to another row does not open there. It is safe for concurrent
// use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer with key, which must be KeySize (32) bytes.
// The Sealer keeps no reference to key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealing key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext under a random 96-bit nonce and returns
// "v1." + base64url(nonce || ciphertext), unpadded. The same
// associatedData must be given to Open.
func (s *Sealer) Seal(plaintext, associatedData []byte) (string, error) {
	ns := s.aead.NonceSize()
	// Refuse what Open would refuse: a sealed text longer than maxSealedLen.
	if len(sealPrefix)+base64.RawURLEncoding.EncodedLen(ns+len(plaintext)+s.aead.Overhead()) > maxSealedLen {
		return "", fmt.Errorf("seal: %d bytes is too large to seal (sealed secrets are small)", len(plaintext))
	}
	nonce := make([]byte, ns, ns+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plaintext, associatedData)
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal made with the same key and associated data. Any
// failure is ErrSealedSecret.
func (s *Sealer) Open(sealed string, associatedData []byte) ([]byte, error) {
	body, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok || len(sealed) > maxSealedLen {
		return nil, ErrSealedSecret
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < ns+s.aead.Overhead() {
		return nil, ErrSealedSecret
	}
	plaintext, err := s.aead.Open(nil, raw[:ns], raw[ns:], associatedData)
	if err != nil {
		return nil, ErrSealedSecret
	}
	return plaintext, nil
}

// NewKeyBytes returns a new random sealing key of KeySize bytes.
func NewKeyBytes() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("new sealing key: %w", err)
	}
	return k, nil
}

// ParseKey decodes a sealing key written in base64, standard or URL
// alphabet, padded or not, with white space around it ignored. It must
// decode to exactly KeySize bytes. Errors never quote the text.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		k, err := enc.Strict().DecodeString(text)
		if err != nil {
			continue
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("sealing key must decode to %d bytes, not %d", KeySize, len(k))
		}
		return k, nil
	}
	return nil, errors.New("sealing key is not base64")
}

// LoadOrCreateKeyFile returns the sealing key in the file at path, or
// creates the file with a new key if there is none; created says which.
// The file holds the key in standard base64 and a newline.
//
// A new file is written in full under a temporary name (created with
// O_EXCL, mode 0600) and then hard-linked into place, which fails if path
// exists: so two processes starting together agree on one key, and no
// process ever reads a half-written file. The directory must exist. An
// existing file that the group or others may read, write or run is
// refused; so is anything but a regular file.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = NewKeyBytes()
	if err != nil {
		return nil, false, err
	}
	err = createKeyFile(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use its key.
		key, err = readKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// readKeyFile reads and checks an existing key file. A missing file is an
// error wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is open to group or others (mode %04o); run chmod 600 on it", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s is too big to hold a key", path)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// createKeyFile writes key to a temporary file beside path and links it
// into place. It returns an error wrapping fs.ErrExist if path exists.
func createKeyFile(path string, key []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer func() {
		if rerr := os.Remove(tmp.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("remove temporary key file: %w", rerr)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod only makes that
	// explicit and independent of its implementation.
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	return nil
}
