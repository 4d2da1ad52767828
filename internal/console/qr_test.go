package console

import (
	"bytes"
	"errors"
	"image/color"
	"image/png"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// checkQRPNG decodes a PNG and checks it is a size×size black-and-white QR
// code with finder patterns in three corners, module for module the code of
// text at medium error correction.
func checkQRPNG(t *testing.T, data []byte, size int, text string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
		t.Fatalf("PNG is %v, want %d×%d", b, size, size)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bm := q.Bitmap()
	n := len(bm)
	ppm := size / n
	off := (size - n*ppm) / 2
	dark := func(x, y int) bool {
		g := color.GrayModel.Convert(img.At(off+x*ppm+ppm/2, off+y*ppm+ppm/2)).(color.Gray)
		if g.Y != 0 && g.Y != 255 {
			t.Fatalf("module %d,%d is grey %d", x, y, g.Y)
		}
		return g.Y == 0
	}
	for y := range n {
		for x := range n {
			if dark(x, y) != bm[y][x] {
				t.Fatalf("module %d,%d differs from the code of %q", x, y, text)
			}
		}
	}
	checkFinders(t, n, dark)
}

// checkFinders checks the three 7×7 finder patterns (ISO/IEC 18004 6.3.3)
// inside the 4-module quiet zone, and that the zone is light.
func checkFinders(t *testing.T, n int, dark func(x, y int) bool) {
	t.Helper()
	const q = 4
	for _, c := range [][2]int{{q, q}, {n - q - 7, q}, {q, n - q - 7}} {
		for y := range 7 {
			for x := range 7 {
				ring := x == 0 || y == 0 || x == 6 || y == 6
				core := x >= 2 && x <= 4 && y >= 2 && y <= 4
				if dark(c[0]+x, c[1]+y) != (ring || core) {
					t.Fatalf("finder at %v wrong at %d,%d", c, x, y)
				}
			}
		}
	}
	for i := range n {
		if dark(i, 0) || dark(0, i) || dark(i, n-1) || dark(n-1, i) {
			t.Fatalf("quiet zone dark at %d", i)
		}
	}
}

func TestQRCodePNG(t *testing.T) {
	for _, size := range []int{64, 256, 333, 2048} {
		data, err := QRCodePNG("http://192.0.2.10:8080/j/47-nordsee-tulpe", size)
		if err != nil {
			t.Fatal(err)
		}
		checkQRPNG(t, data, size, "http://192.0.2.10:8080/j/47-nordsee-tulpe")
	}
	for _, size := range []int{0, 63, 2049, -10} {
		if _, err := QRCodePNG("x", size); !errors.Is(err, ErrQR) {
			t.Errorf("size %d: %v", size, err)
		}
	}
	if _, err := QRCodePNG(strings.Repeat("x", 5000), 256); !errors.Is(err, ErrQR) {
		t.Errorf("too long: %v", err)
	}
}

// TestQRCodeText reads the half blocks back into modules and compares them
// with the code.
func TestQRCodeText(t *testing.T) {
	const text = "http://192.0.2.10:8080/j/47-nordsee-tulpe"
	s := QRCodeText(text)
	q, _ := qrcode.New(text, qrcode.Medium)
	bm := q.Bitmap()
	n := len(bm)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != (n+1)/2 {
		t.Fatalf("%d lines for %d rows", len(lines), n)
	}
	light := make([][]bool, len(lines)*2)
	for i := range light {
		light[i] = make([]bool, n)
	}
	for y, l := range lines {
		r := []rune(l)
		if len(r) != n {
			t.Fatalf("line %d has %d columns, want %d", y, len(r), n)
		}
		for x, c := range r {
			switch c {
			case '█':
				light[2*y][x], light[2*y+1][x] = true, true
			case '▀':
				light[2*y][x] = true
			case '▄':
				light[2*y+1][x] = true
			case ' ':
			default:
				t.Fatalf("unexpected %q", c)
			}
		}
	}
	for y := range n {
		for x := range n {
			if light[y][x] == bm[y][x] {
				t.Fatalf("module %d,%d wrong", x, y)
			}
		}
	}
	for x := range n { // the padding row below an odd last row stays blank
		if n%2 == 1 && light[n][x] {
			t.Fatalf("padding row drawn at %d", x)
		}
	}
	checkFinders(t, n, func(x, y int) bool { return !light[y][x] })
	if QRCodeText(strings.Repeat("x", 5000)) != "" {
		t.Error("too long: want empty")
	}
}
