package mfa

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// quietZone is the blank border, in modules, that scanners need.
const quietZone = 4

func encodeQR(content string) (barcode.Barcode, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return code, nil
}

// QRPNG renders content as a QR code PNG of about size pixels square.
func QRPNG(content string, size int) ([]byte, error) {
	code, err := encodeQR(content)
	if err != nil {
		return nil, err
	}
	if size < code.Bounds().Dx() {
		size = code.Bounds().Dx()
	}
	scaled, err := barcode.Scale(code, size, size)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, scaled); err != nil {
		return nil, fmt.Errorf("qr code png: %w", err)
	}
	return buf.Bytes(), nil
}

// qrDark reports whether module (x, y) of the code, counted with the quiet
// zone around it, is dark.
func qrDark(code barcode.Barcode, x, y int) bool {
	n := code.Bounds().Dx()
	x, y = x-quietZone, y-quietZone
	if x < 0 || y < 0 || x >= n || y >= n {
		return false
	}
	r, _, _, _ := code.At(x, y).RGBA()
	return r < 0x8000
}

// TerminalQR draws content as a QR code with Unicode half blocks, two
// module rows per line. Light modules (and the quiet zone) are drawn as
// blocks and dark ones as spaces, so on the usual dark terminal background
// it reads as dark-on-light, as scanners expect.
func TerminalQR(content string) (string, error) {
	code, err := encodeQR(content)
	if err != nil {
		return "", err
	}
	size := code.Bounds().Dx() + 2*quietZone
	var sb strings.Builder
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			top := !qrDark(code, x, y)
			bottom := y+1 < size && !qrDark(code, x, y+1)
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
		sb.WriteString("\n")
	}
	return sb.String(), nil
}
