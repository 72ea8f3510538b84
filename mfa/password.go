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

// ErrMalformedHash reports a stored password hash that is not an argon2id
// PHC string this package accepts, including one whose parameters are out
// of bounds.
var ErrMalformedHash = errors.New("malformed password hash")

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	// Time is the number of passes over memory, 1 to 20.
	Time uint32
	// MemoryKiB is the memory used, in KiB: at least 8 per thread and at
	// most 1 GiB.
	MemoryKiB uint32
	// Threads is the degree of parallelism (argon2's lanes), 1 to 16.
	Threads uint8
}

// DefaultArgon2Params returns OWASP's baseline for argon2id: 19 MiB of
// memory, 2 passes, 1 thread (m=19456,t=2,p=1).
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}
}

// Bounds on argon2 parameters. A hash read back from the store may use
// more memory than the hasher's own parameters (they may have been lowered
// since) but never more than storedMemoryKiB or those parameters, so a
// tampered record cannot make the server allocate gigabytes.
const (
	maxTime         = 20
	maxMemoryKiB    = 1 << 20 // 1 GiB
	storedMemoryKiB = 1 << 18 // 256 MiB
	maxThreads      = 16
	saltLen         = 16
	keyLen          = 32
	minStoredSalt   = 8
	minStoredKey    = 16
	maxStoredKey    = 64
	maxEncodedLen   = 512
)

// Validate reports whether p is within bounds.
func (p Argon2Params) Validate() error {
	return p.within(maxMemoryKiB)
}

func (p Argon2Params) within(memoryLimitKiB uint32) error {
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > memoryLimitKiB {
		return fmt.Errorf("argon2 parameters m=%d,t=%d,p=%d out of bounds (t 1 to %d, p 1 to %d, m %d per thread to %d)",
			p.MemoryKiB, p.Time, p.Threads, maxTime, maxThreads, 8, memoryLimitKiB)
	}
	return nil
}

// PasswordHasherOptions configure a PasswordHasher.
type PasswordHasherOptions struct {
	// Params are the cost of new hashes, and of the dummy hash unknown
	// users are checked against. Zero fields take DefaultArgon2Params.
	Params Argon2Params
	// MaxConcurrent bounds how many argon2 computations run at once;
	// default runtime.NumCPU().
	MaxConcurrent int
}

// PasswordHasher hashes and verifies passwords with argon2id, running at
// most MaxConcurrent computations at a time so that a flood of sign-ins
// queues instead of taking every CPU and a lot of memory. It is safe for
// concurrent use.
type PasswordHasher struct {
	params Argon2Params
	sem    chan struct{}
	dummy  string
	work   atomic.Int64
}

// NewPasswordHasher checks the parameters and prepares the dummy hash that
// unknown users are verified against.
func NewPasswordHasher(opts PasswordHasherOptions) (*PasswordHasher, error) {
	def := DefaultArgon2Params()
	p := opts.Params
	if p.Time == 0 {
		p.Time = def.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = def.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = def.Threads
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = runtime.NumCPU()
	}
	h := &PasswordHasher{params: p, sem: make(chan struct{}, opts.MaxConcurrent)}
	// The dummy's salt and key are random, so no password verifies
	// against it.
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("dummy password hash: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("dummy password hash: %w", err)
	}
	h.dummy = encodeHash(p, salt, key)
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *PasswordHasher) Params() Argon2Params { return h.params }

// Work reports how many argon2 computations this hasher has done.
func (h *PasswordHasher) Work() int64 { return h.work.Load() }

// compute runs argon2id once a slot in the semaphore is free, or returns
// the context's error if that comes first.
func (h *PasswordHasher) compute(ctx context.Context, password string, salt []byte, p Argon2Params, n int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for password hashing: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for password hashing: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	h.work.Add(1)
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(n)), nil
}

// Hash returns the argon2id PHC string of password with a fresh salt:
// "$argon2id$v=19$m=...,t=...,p=...$salt$hash", both in unpadded base64.
// It waits for a free slot as long as ctx allows.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key, err := h.compute(ctx, password, salt, h.params, keyLen)
	if err != nil {
		return "", err
	}
	return encodeHash(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time. An empty encoded (an unknown user) is verified against a dummy
// hash made with the hasher's parameters, so it costs the same work, and
// reports false. A malformed encoded, or one whose parameters are out of
// bounds, is an error wrapping ErrMalformedHash and costs no work. It
// waits for a free slot as long as ctx allows.
func (h *PasswordHasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	unknown := encoded == ""
	if unknown {
		encoded = h.dummy
	}
	p, salt, want, err := decodeHash(encoded, max(storedMemoryKiB, h.params.MemoryKiB))
	if err != nil {
		return false, err
	}
	got, err := h.compute(ctx, password, salt, p, len(want))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1 && !unknown, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the hasher's, so the caller may store a fresh hash after a successful
// sign-in. A malformed hash needs one too.
func (h *PasswordHasher) NeedsRehash(encoded string) bool {
	p, _, want, err := decodeHash(encoded, max(storedMemoryKiB, h.params.MemoryKiB))
	return err != nil || p != h.params || len(want) != keyLen
}

var phcBase64 = base64.RawStdEncoding

func encodeHash(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		phcBase64.EncodeToString(salt), phcBase64.EncodeToString(key))
}

// decodeHash parses an argon2id PHC string, refusing parameters out of
// bounds (memory above memoryLimitKiB) before anything is allocated for
// them.
func decodeHash(s string, memoryLimitKiB uint32) (p Argon2Params, salt, key []byte, err error) {
	if len(s) > maxEncodedLen {
		return p, nil, nil, fmt.Errorf("%w: too long", ErrMalformedHash)
	}
	// The base64 decoder skips line breaks; a PHC string has none.
	if strings.ContainsAny(s, "\r\n") {
		return p, nil, nil, fmt.Errorf("%w: line break", ErrMalformedHash)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported argon2 version", ErrMalformedHash)
	}
	if p, err = parseParams(parts[3]); err != nil {
		return p, nil, nil, err
	}
	if err := p.within(memoryLimitKiB); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	salt, err1 := phcBase64.Strict().DecodeString(parts[4])
	key, err2 := phcBase64.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < minStoredSalt || len(key) < minStoredKey || len(key) > maxStoredKey {
		return p, nil, nil, fmt.Errorf("%w: bad salt or hash", ErrMalformedHash)
	}
	return p, salt, key, nil
}

// parseParams reads "m=...,t=...,p=..." in that order, as PHC writes
// them.
func parseParams(s string) (Argon2Params, error) {
	var p Argon2Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("%w: want parameters m, t and p", ErrMalformedHash)
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		// ParseUint takes no sign or space and refuses what overflows.
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, fmt.Errorf("%w: bad parameter %s", ErrMalformedHash, name)
		}
		vals[i] = uint32(n)
	}
	if vals[2] > 255 {
		return p, fmt.Errorf("%w: bad parameter p", ErrMalformedHash)
	}
	return Argon2Params{MemoryKiB: vals[0], Time: vals[1], Threads: uint8(vals[2])}, nil
}
