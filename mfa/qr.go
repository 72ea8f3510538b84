package mfa

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// quietZone is the blank border, in modules, that the QR standard asks for
// and scanners need.
const quietZone = 4

// maxQRPixels bounds the PNG width QRPNG accepts.
const maxQRPixels = 4096

// qrMatrix is a QR code as modules, true for dark, with the quiet zone
// included: m[y][x].
type qrMatrix [][]bool

// encodeQR encodes content at error correction level M (15%), as
// authenticator enrollment codes usually are, and returns its modules
// with the quiet zone around them.
func encodeQR(content string) (qrMatrix, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return withQuietZone(code), nil
}

func withQuietZone(code barcode.Barcode) qrMatrix {
	n := code.Bounds().Dx()
	m := make(qrMatrix, n+2*quietZone)
	for y := range m {
		m[y] = make([]bool, n+2*quietZone)
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			m[y+quietZone][x+quietZone] = isDark(code.At(x, y))
		}
	}
	return m
}

func isDark(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}

// QRPNG renders content as a black-on-white QR code PNG, quiet zone
// included, at most size pixels square. Each module is the same whole
// number of pixels, so the image is crisp and may be a little smaller than
// size; it is never smaller than one pixel per module. size must be 1 to
// 4096.
func QRPNG(content string, size int) ([]byte, error) {
	if size < 1 || size > maxQRPixels {
		return nil, fmt.Errorf("qr code size %d out of range 1 to %d", size, maxQRPixels)
	}
	m, err := encodeQR(content)
	if err != nil {
		return nil, err
	}
	scale := max(size/len(m), 1)
	side := scale * len(m)
	palette := color.Palette{color.Gray{Y: 0xff}, color.Gray{Y: 0}}
	img := image.NewPaletted(image.Rect(0, 0, side, side), palette)
	for y := 0; y < side; y++ {
		row := m[y/scale]
		for x := 0; x < side; x++ {
			if row[x/scale] {
				img.Pix[y*img.Stride+x] = 1
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr code png: %w", err)
	}
	return buf.Bytes(), nil
}

// TerminalQR draws content as a QR code with Unicode half blocks, two
// module rows per line, with a 4-module quiet zone. Light modules are
// drawn as blocks and dark ones as spaces, so on the usual light-on-dark
// terminal the code shows dark-on-light, as scanners expect. Every line
// ends in "\n". When the module rows are odd in number, the lower half of
// the last line is left blank.
func TerminalQR(content string) (string, error) {
	m, err := encodeQR(content)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow((len(m) + 1) / 2 * (len(m)*len("█") + 1))
	for y := 0; y < len(m); y += 2 {
		for x := range m[y] {
			top := !m[y][x]
			bottom := y+1 < len(m) && !m[y+1][x]
			switch {
			case top && bottom:
				sb.WriteString("█")
			case top:
				sb.WriteString("▀")
			case bottom:
				sb.WriteString("▄")
			default:
				sb.WriteString(" ")
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String(), nil
}
