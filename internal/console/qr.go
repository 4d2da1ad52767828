package console

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QR sizes QRCodePNG accepts, in pixels.
const (
	minQRSize = 64
	maxQRSize = 2048
)

// QRCodePNG draws text (the join link) as a QR code: a size×size PNG with
// medium error correction, the quiet zone around it, and every module the
// same whole number of pixels (crisp for cameras), centred. size is 64–2048.
func QRCodePNG(text string, size int) ([]byte, error) {
	if size < minQRSize || size > maxQRSize {
		return nil, fmt.Errorf("%w: size %d (want %d–%d)", ErrQR, size, minQRSize, maxQRSize)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQR, err)
	}
	bm := q.Bitmap() // true = dark, with the quiet zone
	n := len(bm)
	ppm := size / n
	if ppm == 0 {
		return nil, fmt.Errorf("%w: %d modules do not fit in %d pixels", ErrQR, n, size)
	}
	off := (size - n*ppm) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bm {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := off + y*ppm; py < off+(y+1)*ppm; py++ {
				for px := off + x*ppm; px < off+(x+1)*ppm; px++ {
					img.Pix[img.PixOffset(px, py)] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQR, err)
	}
	return buf.Bytes(), nil
}

// QRCodeText draws text as a QR code for a terminal, two modules per line
// with the half blocks ▀ ▄ █. Light modules (and the quiet zone) are drawn,
// dark ones left blank, which suits the usual light-on-dark terminal; phone
// scanners read the inverse as well. It returns "" if text is too long for a
// QR code. Each line ends in "\n".
func QRCodeText(text string) string {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return ""
	}
	bm := q.Bitmap() // true = dark, with the quiet zone
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top := !bm[y][x]
			bottom := y+1 < len(bm) && !bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
