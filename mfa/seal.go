package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

const sealPrefix = "v1."

// Sealer encrypts small secrets at rest with AES-256-GCM. Associated data
// binds a ciphertext to its owner, so a sealed secret copied to another
// row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer takes a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealing key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext with a random nonce.
func (s *Sealer) Seal(plaintext, associatedData []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plaintext, associatedData)
	return sealPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

var errSealed = errors.New("sealed secret does not open: wrong key, wrong owner or damaged")

// Open decrypts what Seal made with the same key and associated data.
func (s *Sealer) Open(sealed string, associatedData []byte) ([]byte, error) {
	if !strings.HasPrefix(sealed, sealPrefix) || len(sealed) > 1<<16 {
		return nil, errSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(sealPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errSealed
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], associatedData)
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}

// NewKeyBytes returns 32 random bytes.
func NewKeyBytes() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	return k, nil
}

// ParseKey decodes a base64 key (standard or URL alphabet, padded or not)
// of exactly 32 bytes.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("key must decode to 32 bytes, not %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("key is not base64")
}

// LoadOrCreateKeyFile reads the base64 key in path, or creates the file
// (mode 0600, exclusively, so two processes cannot both create it) with a
// new key. A key file others can read is refused.
func LoadOrCreateKeyFile(path string) ([]byte, bool, error) {
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			st, err := os.Stat(path)
			if err != nil {
				return nil, false, err
			}
			if st.Mode().Perm()&0o077 != 0 {
				return nil, false, fmt.Errorf("key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
			}
			k, err := ParseKey(string(b))
			if err != nil {
				return nil, false, fmt.Errorf("key file %s: %w", path, err)
			}
			return k, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("read key file: %w", err)
		}
		k, err := NewKeyBytes()
		if err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process won the race; read its key
		}
		if err != nil {
			return nil, false, fmt.Errorf("create key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("write key file: %w", werr)
		}
		return k, true, nil
	}
}
