package mfa

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
	"github.com/google/go-cmp/cmp"
)

var qrContents = map[string]string{
	"short":    "hello",
	"otpauth":  "otpauth://totp/stepgate:alice?algorithm=SHA1&digits=6&issuer=stepgate&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
	"unicode":  "otpauth://totp/stepgate%20demo:%C3%A9lodie?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
	"numeric":  "0123456789",
	"long URL": "otpauth://totp/" + strings.Repeat("x", 300) + "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
}

// wantModules is the code boombuler makes for content with a light
// border of four modules around it, built here without the package's
// helpers: true is dark.
func wantModules(t *testing.T, content string) [][]bool {
	t.Helper()
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Bounds().Dx()
	m := make([][]bool, n+8)
	for y := range m {
		m[y] = make([]bool, n+8)
		for x := range m[y] {
			if x >= 4 && y >= 4 && x < n+4 && y < n+4 {
				r, _, _, _ := code.At(x-4, y-4).RGBA()
				m[y][x] = r == 0
			}
		}
	}
	return m
}

// parseTerminalQR reads TerminalQR's drawing back into modules, true for
// dark. The width of the lines gives the module count, and so how many
// rows the last, half-used line holds.
func parseTerminalQR(t *testing.T, text string) [][]bool {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatal("drawing does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	width := len([]rune(lines[0]))
	var m [][]bool
	for i, line := range lines {
		top, bottom := make([]bool, 0, width), make([]bool, 0, width)
		for _, r := range line {
			// A block's drawn half is light; space is dark.
			light := map[rune][2]bool{'█': {true, true}, '▀': {true, false}, '▄': {false, true}, ' ': {false, false}}
			l, ok := light[r]
			if !ok {
				t.Fatalf("line %d: unexpected rune %q", i, r)
			}
			top, bottom = append(top, !l[0]), append(bottom, !l[1])
		}
		if len(top) != width {
			t.Fatalf("line %d is %d wide, want %d", i, len(top), width)
		}
		m = append(m, top)
		if len(m) < width {
			m = append(m, bottom)
		} else if !allTrue(bottom) {
			t.Errorf("line %d: lower half past the last row is drawn", i)
		}
	}
	return m
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

func TestTerminalQRMatchesEncoder(t *testing.T) {
	t.Parallel()
	for name, content := range qrContents {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			text, err := TerminalQR(content)
			if err != nil {
				t.Fatal(err)
			}
			want := wantModules(t, content)
			got := parseTerminalQR(t, text)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("modules differ (-want +got):\n%s", diff)
			}
			if lines := strings.Count(text, "\n"); lines != (len(want)+1)/2 {
				t.Errorf("%d lines for %d module rows", lines, len(want))
			}
		})
	}
}

func TestTerminalQRQuietZone(t *testing.T) {
	t.Parallel()
	text, err := TerminalQR("hello")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	width := len([]rune(lines[0]))
	// Two full lines of light blocks on top, and four light columns on
	// each side of every line.
	for i := 0; i < 2; i++ {
		if lines[i] != strings.Repeat("█", width) {
			t.Errorf("line %d is not all light: %q", i, lines[i])
		}
	}
	for i, line := range lines[:len(lines)-1] {
		r := []rune(line)
		for _, side := range [][]rune{r[:4], r[len(r)-4:]} {
			for _, c := range side {
				if c != '█' && c != '▀' {
					t.Fatalf("line %d: quiet zone has %q", i, c)
				}
			}
		}
	}
}

func TestQRPNG(t *testing.T) {
	t.Parallel()
	content := qrContents["otpauth"]
	want := wantModules(t, content)
	n := len(want) // modules across, quiet zone included
	tests := []struct {
		name      string
		size      int
		wantScale int
	}{
		{"256 pixels", 256, 256 / n},
		{"exact multiple", n * 3, 3},
		{"one short of a multiple", n*3 - 1, 2},
		{"too small for one pixel a module", 10, 1},
		{"one pixel", 1, 1},
		{"the maximum", 4096, 4096 / n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := QRPNG(content, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			side := tt.wantScale * len(want)
			if got := img.Bounds(); got.Dx() != side || got.Dy() != side {
				t.Fatalf("image is %v, want %dx%d", got, side, side)
			}
			// QRPNG documents "at most size pixels square" and "never
			// smaller than one pixel per module".
			if side > max(tt.size, n) || side < n {
				t.Errorf("side %d for size %d and %d modules", side, tt.size, n)
			}
			got := make([][]bool, len(want))
			for y := range got {
				got[y] = make([]bool, len(want))
				for x := range got[y] {
					// A module's first and last pixels agree.
					first := darkAt(img, x*tt.wantScale, y*tt.wantScale)
					last := darkAt(img, (x+1)*tt.wantScale-1, (y+1)*tt.wantScale-1)
					if first != last {
						t.Fatalf("module (%d, %d) is not one colour", x, y)
					}
					got[y][x] = first
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("modules differ (-want +got):\n%s", diff)
			}
		})
	}
}

func darkAt(img image.Image, x, y int) bool {
	return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 0x80
}

func TestQRRefuses(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, -1, 4097} {
		if _, err := QRPNG("hello", size); err == nil {
			t.Errorf("QRPNG size %d: no error", size)
		}
	}
	tooLong := strings.Repeat("x", 5000)
	if _, err := QRPNG(tooLong, 256); err == nil {
		t.Error("QRPNG of 5000 bytes: no error")
	}
	if _, err := TerminalQR(tooLong); err == nil {
		t.Error("TerminalQR of 5000 bytes: no error")
	}
}
