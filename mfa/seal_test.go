package mfa

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newTestSealer(t testing.TB) *Sealer {
	t.Helper()
	key, err := NewKeyBytes()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	for name, pt := range map[string][]byte{
		"secret": []byte(rfcSecret),
		"empty":  {},
		"binary": {0, 1, 2, 0xff},
		"4 KB":   bytes.Repeat([]byte("x"), 4096),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sealed, err := s.Seal(pt, []byte("u-alice"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sealed, "v1.") || strings.ContainsAny(sealed, "+/=") {
				t.Errorf("sealed %q is not v1. + unpadded base64url", sealed)
			}
			if len(pt) > 4 && strings.Contains(sealed, string(pt)) {
				t.Error("sealed text contains the plaintext")
			}
			got, err := s.Open(sealed, []byte("u-alice"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(pt, got, cmpEmptyBytes); diff != "" {
				t.Errorf("Open (-want +got):\n%s", diff)
			}
		})
	}
	a, _ := s.Seal([]byte("same"), nil)
	b, _ := s.Seal([]byte("same"), nil)
	if a == b {
		t.Error("sealing twice gives the same text: nonce is not fresh")
	}
}

// cmpEmptyBytes treats nil and empty slices as equal.
var cmpEmptyBytes = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	ad := []byte("u-alice")
	sealed, err := s.Seal([]byte("the secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v1."))
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return "v1." + base64.RawURLEncoding.EncodeToString(b)
	}
	tests := map[string]struct {
		sealer *Sealer
		sealed string
		ad     []byte
	}{
		"wrong owner":          {s, sealed, []byte("u-bob")},
		"no owner":             {s, sealed, nil},
		"wrong key":            {newTestSealer(t), sealed, ad},
		"nonce byte flipped":   {s, flip(0), ad},
		"cipher byte flipped":  {s, flip(12), ad},
		"tag byte flipped":     {s, flip(len(raw) - 1), ad},
		"truncated":            {s, sealed[:len(sealed)-4], ad},
		"only the nonce":       {s, "v1." + base64.RawURLEncoding.EncodeToString(raw[:12]), ad},
		"empty body":           {s, "v1.", ad},
		"empty":                {s, "", ad},
		"wrong prefix":         {s, "v2." + strings.TrimPrefix(sealed, "v1."), ad},
		"no prefix":            {s, strings.TrimPrefix(sealed, "v1."), ad},
		"padded":               {s, sealed + "==", ad},
		"standard alphabet":    {s, "v1." + base64.RawStdEncoding.EncodeToString(raw) + "+/", ad},
		"not base64":           {s, "v1.!!!!", ad},
		"huge":                 {s, "v1." + strings.Repeat("A", 1<<17), ad},
		"100 KB":               {s, strings.Repeat("v1.A", 25<<10), ad},
		"100 KB after prefix":  {s, sealed + strings.Repeat("A", 100<<10), ad},
		"plaintext in place":   {s, "the secret", ad},
		"trailing white space": {s, sealed + " ", ad},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.sealer.Open(tt.sealed, tt.ad)
			if !errors.Is(err, ErrSealedSecret) || got != nil {
				t.Errorf("Open = %q, %v; want nil, ErrSealedSecret", got, err)
			}
		})
	}
}

func TestNewSealerKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer with %d bytes: no error", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11)[:32] // uses + and / in std base64
	tests := map[string]struct {
		text string
		ok   bool
	}{
		"std padded":       {base64.StdEncoding.EncodeToString(key), true},
		"std raw":          {base64.RawStdEncoding.EncodeToString(key), true},
		"url padded":       {base64.URLEncoding.EncodeToString(key), true},
		"url raw":          {base64.RawURLEncoding.EncodeToString(key), true},
		"white space":      {"  " + base64.StdEncoding.EncodeToString(key) + "\n\n", true},
		"url, white space": {"\t" + base64.RawURLEncoding.EncodeToString(key) + " \r\n", true},
		"31 bytes":         {base64.StdEncoding.EncodeToString(key[:31]), false},
		"31 bytes raw url": {base64.RawURLEncoding.EncodeToString(key[:31]), false},
		"33 bytes":         {base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 0)), false},
		"33 bytes raw url": {base64.RawURLEncoding.EncodeToString(append(bytes.Clone(key), 0)), false},
		"not base64":       {"this is not a sealing key, not at all!", false},
		"only white space": {" \n\t", false},
		"hex":              {strings.Repeat("ab", 32), false},
		"empty":            {"", false},
		"mixed alphabets":  {"+" + base64.RawURLEncoding.EncodeToString(key)[1:40] + "-", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKey(tt.text)
			if !tt.ok {
				if err == nil {
					t.Errorf("ParseKey(%q): no error", tt.text)
				} else if len(tt.text) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.text)) {
					t.Errorf("error %q quotes the key text", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x, want %x", got, key)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sealing.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != 32 {
		t.Fatalf("first call: %d bytes, created %t, %v", len(key), created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("new key file mode %04o, want 0600", perm)
	}
	text, _ := os.ReadFile(path)
	if parsed, err := ParseKey(string(text)); err != nil || !bytes.Equal(parsed, key) {
		t.Errorf("file holds %q, not the key in base64", text)
	}
	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Errorf("second call: same key %t, created %t, %v", bytes.Equal(again, key), created, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
}

func TestLoadOrCreateKeyFileRefuses(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	tests := map[string]struct {
		content string
		mode    os.FileMode
		want    string // in the error
	}{
		"readable by others": {good, 0o644, "chmod 600"},
		"readable by group":  {good, 0o640, "chmod 600"},
		"writable by others": {good, 0o602, "chmod 600"},
		"empty":              {"", 0o600, "32 bytes"},
		"short key":          {base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "32 bytes"},
		"not base64":         {"this is not a key", 0o600, "not base64"},
		"too big":            {strings.Repeat("A", 4096), 0o600, "too big"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sealing.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			key, created, err := LoadOrCreateKeyFile(path)
			if err == nil || key != nil || created {
				t.Fatalf("LoadOrCreateKeyFile = %x, %t, %v; want an error", key, created, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			// The bad file is left as it was.
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("key file was changed")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		if _, _, err := LoadOrCreateKeyFile(t.TempDir()); err == nil {
			t.Error("a directory was taken as a key file")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		if _, _, err := LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "no", "key")); err == nil {
			t.Error("no error for a missing directory")
		}
	})
}

func TestLoadOrCreateKeyFileRace(t *testing.T) {
	t.Parallel()
	// Many callers at once: exactly one creates, and all get its key.
	path := filepath.Join(t.TempDir(), "sealing.key")
	const n = 16
	keys := make([][]byte, n)
	createdBy := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			keys[i], createdBy[i], err = LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if createdBy[i] {
			creators++
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("caller %d got another key", i)
		}
	}
	if creators != 1 {
		t.Errorf("%d callers created the file, want 1", creators)
	}
}

// Seal refuses exactly what Open could not open again.
func TestSealSizeLimitMatchesOpen(t *testing.T) {
	t.Parallel()
	key, _ := NewKeyBytes()
	s, _ := NewSealer(key)
	for _, n := range []int{49121, 49122, 1 << 20} {
		sealed, err := s.Seal(make([]byte, n), nil)
		if err != nil {
			if n == 49121 {
				t.Errorf("%d bytes refused: %v", n, err)
			}
			continue
		}
		if _, err := s.Open(sealed, nil); err != nil {
			t.Errorf("%d bytes sealed but do not open: %v", n, err)
		}
	}
}
