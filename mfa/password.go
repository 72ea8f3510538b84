package mfa

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2Params follows OWASP's argon2id baseline: 19 MiB, 2
// passes, 1 lane.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}
}

// Bounds on parameters read from a stored hash; anything outside them is
// a damaged or hostile record.
const (
	maxTime      = 20
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxThreads   = 16
	saltLen      = 16
	keyLen       = 32
)

func (p Argon2Params) valid() error {
	if p.Time < 1 || p.Time > maxTime || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB ||
		p.Threads < 1 || p.Threads > maxThreads {
		return fmt.Errorf("argon2 parameters t=%d m=%d p=%d out of bounds", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// PasswordHasherOptions configure a PasswordHasher.
type PasswordHasherOptions struct {
	Params Argon2Params
	// MaxConcurrent bounds simultaneous argon2 computations; default
	// runtime.NumCPU().
	MaxConcurrent int
}

// PasswordHasher hashes and verifies passwords with argon2id, at most
// MaxConcurrent at a time.
type PasswordHasher struct {
	params Argon2Params
	sem    chan struct{}
	dummy  string
	work   atomic.Int64
}

// NewPasswordHasher checks the parameters and prepares the dummy hash that
// unknown users are verified against.
func NewPasswordHasher(opts PasswordHasherOptions) (*PasswordHasher, error) {
	if opts.Params == (Argon2Params{}) {
		opts.Params = DefaultArgon2Params()
	}
	if err := opts.Params.valid(); err != nil {
		return nil, err
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = runtime.NumCPU()
	}
	h := &PasswordHasher{params: opts.Params, sem: make(chan struct{}, opts.MaxConcurrent)}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("dummy salt: %w", err)
	}
	// The dummy's key is random; no password verifies against it.
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("dummy key: %w", err)
	}
	h.dummy = encodeHash(opts.Params, salt, key)
	return h, nil
}

// Work reports how many argon2 computations this hasher has done.
func (h *PasswordHasher) Work() int64 { return h.work.Load() }

func (h *PasswordHasher) compute(ctx context.Context, password string, salt []byte, p Argon2Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for password hashing: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	h.work.Add(1)
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen), nil
}

// Hash returns the PHC string of password with a fresh salt.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key, err := h.compute(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodeHash(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time. An empty encoded (unknown user) is checked against a dummy hash
// with the current parameters, costing the same, and reports false.
func (h *PasswordHasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	unknown := encoded == ""
	if unknown {
		encoded = h.dummy
	}
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.compute(ctx, password, salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1 && !unknown, nil
}

var b64 = base64.RawStdEncoding

func encodeHash(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errMalformedHash = errors.New("malformed password hash")

// decodeHash parses a PHC argon2id string, refusing parameters out of
// bounds before anything is allocated for them.
func decodeHash(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	if len(s) > 512 {
		return p, nil, nil, errMalformedHash
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errMalformedHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, nil, nil, errMalformedHash
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, errMalformedHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, errMalformedHash
		}
	}
	if err := p.valid(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", errMalformedHash, err)
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != keyLen {
		return p, nil, nil, errMalformedHash
	}
	return p, salt, key, nil
}
