package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestManifestRoundTrip(t *testing.T) {
	m := Manifest{
		Files: []File{{Name: "a/b.txt", Size: 3, Mode: 0o644}, {Name: "run", Size: 0, Mode: 0o755}},
		Dirs:  []string{"a/empty"},
		Total: 3,
	}
	b, err := marshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip: %+v, want %+v", got, m)
	}
	// Unknown keys are ignored, for later versions.
	if _, err := parseManifest([]byte(`{"v":1,"total":0,"files":[],"later":{"x":[1]}}`)); err != nil {
		t.Errorf("unknown key refused: %v", err)
	}
}

func TestMarshalManifestLimits(t *testing.T) {
	m := Manifest{Files: make([]File, maxEntries+1)}
	if _, err := marshalManifest(m); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d entries: %v, want ErrTooLarge", maxEntries+1, err)
	}
	// 100 000 files with names of 200 bytes is far above 8 MiB of JSON.
	m = Manifest{Files: make([]File, maxEntries)}
	for i := range m.Files {
		m.Files[i].Name = strings.Repeat("n", 200)
	}
	if _, err := marshalManifest(m); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized manifest: %v, want ErrTooLarge", err)
	}
}

func TestParseAccept(t *testing.T) {
	files := []File{{Size: 10}, {Size: 0}, {Size: 5}}
	ok := appendAccept(nil, []offer{{index: 0, offset: 10}, {index: 2, offset: 1}})
	if got, err := parseAccept(ok, files); err != nil || len(got) != 2 || got[1].index != 2 {
		t.Errorf("valid accept: %v, %v", got, err)
	}
	bad := map[string][]byte{
		"short":           {0, 0},
		"count too large": binary.BigEndian.AppendUint32(nil, 4),
		"trailing bytes":  append(appendAccept(nil, nil), 0),
		"out of order":    appendAccept(nil, []offer{{index: 2, offset: 1}, {index: 0, offset: 1}}),
		"repeated":        appendAccept(nil, []offer{{index: 0, offset: 1}, {index: 0, offset: 2}}),
		"index too large": appendAccept(nil, []offer{{index: 3, offset: 1}}),
		"zero offset":     appendAccept(nil, []offer{{index: 0, offset: 0}}),
		"past the end":    appendAccept(nil, []offer{{index: 0, offset: 11}}),
		"huge offset":     appendAccept(nil, []offer{{index: 0, offset: -1}}),
	}
	for name, p := range bad {
		if _, err := parseAccept(p, files); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

func TestCleanReason(t *testing.T) {
	got := cleanReason([]byte("disk \x1b[2J full\xff\u202e" + strings.Repeat("x", 400)))
	if strings.ContainsAny(got, "\x1b\u202e") || len(got) > 256 || !strings.HasPrefix(got, "disk \uFFFD[2J full\uFFFD\uFFFD") {
		t.Errorf("cleanReason = %q", got)
	}
}

// FuzzReadHeader checks that the frame decoder never accepts a frame outside
// its type's limits and reports short input as EOF, not as a frame.
func FuzzReadHeader(f *testing.F) {
	f.Add(appendFrame(nil, frameData, []byte("abc")))
	f.Add(appendFrame(nil, frameDone, nil))
	f.Add(appendFrame(nil, frameEnd, make([]byte, 32)))
	f.Add([]byte{frameData, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x55, 0, 0, 0, 0})
	f.Add([]byte{frameFile, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var hdr [headerLen]byte
		typ, p, err := readFrameAlloc(bytes.NewReader(b), hdr[:])
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		lo, hi, ok := payloadLimits(typ)
		if !ok || len(p) < lo || len(p) > hi {
			t.Fatalf("accepted frame %#x of %d bytes", typ, len(p))
		}
		if re := appendFrame(nil, typ, p); !bytes.Equal(re, b[:len(re)]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzParseManifest checks that an accepted manifest is sane: names safe and
// unique, no file named like a folder, sizes adding up, limits held, and that
// it survives a round trip unchanged.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"v":1,"total":3,"files":[{"n":"a/b","s":3,"x":true}],"dirs":["e"]}`))
	f.Add([]byte(`{"v":1,"total":0,"files":[{"n":"a","s":0},{"n":"a","s":0},{"n":"a/b","s":0}]}`))
	f.Add([]byte(`{"v":1,"total":1,"files":[{"n":"../x","s":1}]}`))
	f.Add([]byte(`{"v":1,"total":-1,"files":[{"n":"x","s":9223372036854775807},{"n":"y","s":1}]}`))
	f.Add([]byte(`{"v":1,"total":0,"files":[],"dirs":["con","con/x",".."]}`))
	f.Add([]byte(`{"v":1,"total":0,"files":[],"z":[{}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if len(m.Files)+len(m.Dirs) > maxEntries {
			t.Fatalf("%d entries", len(m.Files)+len(m.Dirs))
		}
		var sum int64
		names := map[string]bool{}
		dirs := map[string]bool{}
		for _, d := range m.Dirs {
			dirs[d] = true
		}
		for _, fl := range m.Files {
			for p := fl.Name; strings.Contains(p, "/"); {
				p = p[:strings.LastIndexByte(p, '/')]
				dirs[p] = true
			}
		}
		for _, fl := range m.Files {
			if fl.Size < 0 || sum > math.MaxInt64-fl.Size {
				t.Fatalf("bad size %d", fl.Size)
			}
			sum += fl.Size
			if clean, err := SanitizeName(fl.Name); err != nil || clean != fl.Name {
				t.Fatalf("unsafe name %q", fl.Name)
			}
			if names[fl.Name] || dirs[fl.Name] {
				t.Fatalf("name %q not unique", fl.Name)
			}
			names[fl.Name] = true
		}
		if sum != m.Total {
			t.Fatalf("total %d, sum %d", m.Total, sum)
		}
		re, err := marshalManifest(m)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		m2, err := parseManifest(re)
		if err != nil || !reflect.DeepEqual(normalise(m2), normalise(m)) {
			t.Fatalf("round trip changed the manifest: %v", err)
		}
	})
}

func normalise(m Manifest) Manifest {
	if len(m.Dirs) == 0 {
		m.Dirs = nil
	}
	if len(m.Files) == 0 {
		m.Files = nil
	}
	return m
}

// FuzzParseAccept checks that accepted offers always lie within the files
// they name, in order.
func FuzzParseAccept(f *testing.F) {
	f.Add(appendAccept(nil, []offer{{index: 0, offset: 1}}), int64(5))
	f.Add(appendAccept(nil, []offer{{index: 1, offset: 7}, {index: 2, offset: 7}}), int64(7))
	f.Add([]byte{0, 0, 0, 9}, int64(0))
	f.Fuzz(func(t *testing.T, p []byte, size int64) {
		size = max(size, 0)
		files := []File{{Size: size}, {Size: size / 2}, {Size: size}}
		offers, err := parseAccept(p, files)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		prev := -1
		for _, o := range offers {
			if o.index <= prev || o.index >= len(files) || o.offset <= 0 || o.offset > files[o.index].Size {
				t.Fatalf("bad offer %+v", o)
			}
			prev = o.index
		}
	})
}
