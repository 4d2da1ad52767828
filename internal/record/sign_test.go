package record

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/identity"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	key := testKey(1)
	r := sample(key)
	cet := time.FixedZone("CET", 3600)
	r.Chat[0].At = r.Chat[0].At.In(cet)
	signed := mustSign(t, r, key)
	got, pub, err := Verify(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Error("Verify returned another key")
	}
	want := normalize(r)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, want)
	}
	if got.Start.Location() != time.UTC || !got.Start.Equal(r.Start) {
		t.Errorf("start %v, want %v in UTC", got.Start, r.Start)
	}
	if got.Host.Fingerprint != identity.Fingerprint(pub) {
		t.Errorf("host fingerprint %q, want %q", got.Host.Fingerprint, identity.Fingerprint(pub))
	}
	var env envelope
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(env.Payload)
	sum := sha256.Sum256(p)
	for _, rr := range []Record{r, got} {
		d, err := Digest(rr)
		if err != nil || d != hex.EncodeToString(sum[:]) {
			t.Errorf("Digest = %q, %v; want the payload's SHA-256 %x", d, err, sum)
		}
	}
	// The caller's record is not modified by normalization.
	if r.Chat[0].At.Location() != cet {
		t.Error("Sign modified the caller's slices")
	}
	if !bytes.HasSuffix(signed, []byte("}\n")) || bytes.Count(signed, []byte("\n")) != 1 {
		t.Errorf("signed form is not one line: %q", signed[len(signed)-10:])
	}
}

// The golden file pins the signed form: the same record and key must give
// the same bytes, and they must verify, with every later Go release.
func TestGolden(t *testing.T) {
	key := testKey(1)
	signed := mustSign(t, sample(key), key)
	path := filepath.Join("testdata", "golden.json")
	if os.Getenv("DIREKT_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, signed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed, golden) {
		t.Errorf("Sign output differs from %s:\n got %s\nwant %s", path, signed, golden)
	}
	if _, _, err := Verify(golden); err != nil {
		t.Errorf("golden record does not verify: %v", err)
	}
}

func TestFingerprintMatchesIdentity(t *testing.T) {
	for i := range 20 {
		pub := testKey(byte(i)).Public().(ed25519.PublicKey)
		if got, want := fingerprint(pub), identity.Fingerprint(pub); got != want {
			t.Fatalf("fingerprint %q, identity.Fingerprint %q", got, want)
		}
	}
}

// resign builds an envelope around payload p signed by key (a hostile host
// can sign anything).
func resign(p []byte, key ed25519.PrivateKey) []byte {
	b, _ := json.Marshal(envelope{V: 1, Alg: "Ed25519",
		Key:     base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		Payload: base64.StdEncoding.EncodeToString(p),
		Sig:     base64.StdEncoding.EncodeToString(ed25519.Sign(key, p)),
	})
	return b
}

func TestVerifyRejects(t *testing.T) {
	key, other := testKey(1), testKey(2)
	r := sample(key)
	signed := mustSign(t, r, key)
	var env envelope
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(env.Payload)
	with := func(f func(e *envelope)) []byte {
		e := env
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(signed, []byte(old)) {
			t.Fatalf("%q not in the signed record", old)
		}
		return bytes.Replace(signed, []byte(old), []byte(new), 1)
	}
	payloadEdit := func(old, new string) []byte {
		if !bytes.Contains(p, []byte(old)) {
			t.Fatalf("%q not in the payload", old)
		}
		return bytes.Replace(p, []byte(old), []byte(new), 1)
	}
	flip := func(s string) string {
		b, _ := base64.StdEncoding.DecodeString(s)
		b[len(b)/2] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	invalidRecord := func(f func(r *Record)) []byte {
		rr := normalize(sample(key))
		f(&rr)
		b, err := json.Marshal(rr)
		if err != nil {
			t.Fatal(err)
		}
		return resign(b, key)
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"payload changed", with(func(e *envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(payloadEdit("Entgeltumwandlung", "Entgeltumwandlunk"))
		}), ErrBadSignature},
		{"payload bit flipped", with(func(e *envelope) { e.Payload = flip(e.Payload) }), ErrBadSignature},
		{"signature flipped", with(func(e *envelope) { e.Sig = flip(e.Sig) }), ErrBadSignature},
		{"other key", with(func(e *envelope) {
			e.Key = base64.StdEncoding.EncodeToString(other.Public().(ed25519.PublicKey))
		}), ErrBadSignature},
		{"re-signed by someone else", resign(p, other), ErrWrongKey},
		{"alg lower case", with(func(e *envelope) { e.Alg = "ed25519" }), ErrUnsupported},
		{"alg none", with(func(e *envelope) { e.Alg = "none" }), ErrUnsupported},
		{"version 2", with(func(e *envelope) { e.V = 2 }), ErrUnsupported},
		{"version 0", with(func(e *envelope) { e.V = 0 }), ErrUnsupported},
		{"short key", with(func(e *envelope) { e.Key = e.Key[:20] }), ErrMalformed},
		{"short sig", with(func(e *envelope) { e.Sig = "AAAA" }), ErrMalformed},
		{"base64 with line break", with(func(e *envelope) { e.Payload = e.Payload[:40] + "\n" + e.Payload[40:] }), ErrMalformed},
		{"url base64", with(func(e *envelope) {
			e.Sig = base64.URLEncoding.EncodeToString(ed25519.Sign(key, p))
			if !strings.ContainsAny(e.Sig, "-_") {
				e.Sig = strings.Replace(e.Sig, "A", "-", 1)
			}
		}), ErrMalformed},
		{"duplicate field", replace(`"alg":"Ed25519"`, `"alg":"Ed25519","alg":"Ed25519"`), ErrMalformed},
		{"field in upper case", replace(`"sig"`, `"SIG"`), ErrMalformed},
		{"unknown field", replace(`{"v":1`, `{"x":1,"v":1`), ErrMalformed},
		{"missing field", with(func(e *envelope) {}), nil}, // placeholder replaced below
		{"fields reordered", []byte(`{"alg":"Ed25519","v":1,` + string(bytes.TrimPrefix(signed, []byte(`{"v":1,"alg":"Ed25519",`)))), ErrMalformed},
		{"escaped letter", replace(`"alg":"Ed25519"`, `"alg":"\u0045d25519"`), ErrMalformed},
		{"trailing data", append(bytes.Clone(signed), "{}"...), ErrMalformed},
		{"two envelopes", append(bytes.Clone(signed), signed...), ErrMalformed},
		{"array", []byte(`[` + string(signed) + `]`), ErrMalformed},
		{"null", []byte(`null`), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"too large", append(bytes.Clone(signed), bytes.Repeat([]byte(" "), MaxSigned)...), ErrTooLarge},
		{"payload with spaces", resign(payloadEdit(`"v":1,`, `"v": 1,`), key), ErrMalformed},
		{"payload duplicate field", resign(payloadEdit(`"phrase":`, `"phrase":"x","phrase":`), key), ErrMalformed},
		{"payload field in upper case", resign(payloadEdit(`"phrase":`, `"PHRASE":`), key), ErrMalformed},
		{"payload unknown field", resign(payloadEdit(`"phrase":`, `"evil":1,"phrase":`), key), ErrMalformed},
		{"payload time not UTC", resign(payloadEdit(`"start":"2026-11-27T14:30:00.123456789Z"`, `"start":"2026-11-27T15:30:00.123456789+01:00"`), key), ErrMalformed},
		{"payload without fingerprint", resign(payloadEdit(`"fingerprint":"`+fingerprint(key.Public().(ed25519.PublicKey))+`",`, ``), key), ErrMalformed},
		{"payload not an object", resign([]byte(`"x"`), key), ErrMalformed},
		{"payload trailing data", resign(append(bytes.Clone(p), ` {}`...), key), ErrMalformed},
		{"payload version 2", resign(payloadEdit(`"v":1,`, `"v":2,`), key), ErrUnsupported},
		{"id with a path", invalidRecord(func(r *Record) { r.ID = "../../etc/passwd" }), ErrInvalid},
		{"wrong fingerprint", invalidRecord(func(r *Record) { r.Client.Fingerprint = "aaaa-bbbb-cccc-dddd" }), ErrInvalid},
		{"fingerprint without key", invalidRecord(func(r *Record) { r.Client.Key = nil }), ErrInvalid},
		{"host without key", invalidRecord(func(r *Record) { r.Host.Key, r.Host.Fingerprint = nil, "" }), ErrInvalid},
		{"roles swapped", invalidRecord(func(r *Record) { r.Host.Role, r.Client.Role = "client", "host" }), ErrInvalid},
		{"no end", invalidRecord(func(r *Record) { r.End = time.Time{} }), ErrInvalid},
		{"chat from a third", invalidRecord(func(r *Record) { r.Chat[0].From = "server" }), ErrInvalid},
		{"bad hash", invalidRecord(func(r *Record) { r.Files[0].SHA256 = "xyz" }), ErrInvalid},
		{"negative size", invalidRecord(func(r *Record) { r.Files[0].Size = -1 }), ErrInvalid},
		{"zone with path", invalidRecord(func(r *Record) { r.TimeZone = "../../etc/passwd" }), ErrInvalid},
		{"language", invalidRecord(func(r *Record) { r.Lang = "fr" }), ErrInvalid},
	}
	cases[16].data = replace(`,"sig":"`+env.Sig+`"`, ``)
	cases[16].want = ErrMalformed
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Verify(c.data)
			if !errors.Is(err, c.want) {
				t.Errorf("Verify: %v, want %v", err, c.want)
			}
		})
	}
	// The untouched record still verifies (the cases above did not share
	// state), and so does one with whitespace between the tokens.
	if _, _, err := Verify(signed); err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, signed, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteString("\r\n")
	if _, _, err := Verify(pretty.Bytes()); err != nil {
		t.Errorf("indented envelope: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	key := testKey(1)
	if _, err := Sign(sample(key), testKey(2)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("signing with another key than Host.Key: %v", err)
	}
	if _, err := Sign(sample(key), key[:10]); !errors.Is(err, ErrWrongKey) {
		t.Errorf("short private key: %v", err)
	}
	for name, f := range map[string]func(r *Record){
		"empty id":        func(r *Record) { r.ID = "" },
		"id with slash":   func(r *Record) { r.ID = "2026-11-27T1430Z/0a1b2c3d" },
		"upper-case hash": func(r *Record) { r.ID = "2026-11-27T1430Z-0A1B2C3D" },
		"no start":        func(r *Record) { r.Start = time.Time{} },
		"year 10000":      func(r *Record) { r.End = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"file kind":       func(r *Record) { r.Files[0].Kind = "exe" },
		"consent what":    func(r *Record) { r.Consents[0].What = "control" },
		"consent state":   func(r *Record) { r.Consents[0].State = "maybe" },
		"path kind":       func(r *Record) { r.Path.Kind = "carrier pigeon" },
		"client key size": func(r *Record) { r.Client.Key = r.Client.Key[:31] },
		"screen by":       func(r *Record) { r.Screen = withScreen().Screen; r.Screen[0].By = "server" },
		"screen event":    func(r *Record) { r.Screen = withScreen().Screen; r.Screen[1].Event = "control" },
		"screen what":     func(r *Record) { r.Screen = withScreen().Screen; r.Screen[0].What = "camera" },
		"screen width":    func(r *Record) { r.Screen = withScreen().Screen; r.Screen[0].W = 16385 },
		"screen height":   func(r *Record) { r.Screen = withScreen().Screen; r.Screen[0].H = -1 },
		"screen time": func(r *Record) {
			r.Screen = withScreen().Screen
			r.Screen[0].At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
	} {
		r := sample(key)
		f(&r)
		if _, err := Sign(r, key); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Sign: %v, want ErrInvalid", name, err)
		}
		if _, err := PDF(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PDF: %v, want ErrInvalid", name, err)
		}
	}
}

func TestNormalizeDefaults(t *testing.T) {
	key := testKey(1)
	r := sample(key)
	r.V, r.Lang, r.Host.Role, r.Client.Role, r.Client.Key, r.Client.Fingerprint = 0, "", "", "", nil, ""
	r.Host.Fingerprint = ""
	r.Files[0].Kind, r.Files[0].SHA256 = "", strings.Repeat("AB", 32)
	got, _, err := Verify(mustSign(t, r, key))
	if err != nil {
		t.Fatal(err)
	}
	if got.V != 1 || got.Lang != "de" || got.Host.Role != "host" || got.Client.Role != "client" ||
		got.Files[0].Kind != "doc" || got.Files[0].SHA256 != strings.Repeat("ab", 32) ||
		got.Host.Fingerprint == "" || got.Client.Fingerprint != "" || got.Client.Key != nil {
		t.Errorf("defaults not filled as documented: %+v", got)
	}
}

func TestID(t *testing.T) {
	start := time.Date(2026, 11, 27, 15, 30, 59, 0, time.FixedZone("CET", 3600))
	a, b := NewID(start), NewID(start)
	if !strings.HasPrefix(a, "2026-11-27T1430Z-") || a == b || !ValidID(a) || !ValidID(b) {
		t.Errorf("NewID: %q, %q", a, b)
	}
	if NewID(start.Add(time.Minute)) < a {
		t.Error("ids do not sort by time")
	}
	for _, id := range []string{"", "../x", "/etc/passwd", "2026-11-27T1430Z-0a1b2c3", "2026-11-27T1430Z-0a1b2c3d.json",
		"2026-11-27T1430Z-0a1b2c3g", "2026-13-27T1430Z-0a1b2c3d", "2026-11-27T2460Z-0a1b2c3d", "2026-11-27T1430Z/0a1b2c3d",
		"2026-11-27T1430Z-../../x", "２026-11-27T1430Z-0a1b2c3d", "2026-11-27T1430Z-0a1b2c3d\x00"} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

func TestLocalTimeZone(t *testing.T) {
	t.Setenv("TZ", "Europe/Berlin")
	if got := LocalTimeZone(); got != "Europe/Berlin" {
		t.Errorf("TZ=Europe/Berlin: %q", got)
	}
	t.Setenv("TZ", "")
	if got := LocalTimeZone(); got != "UTC" {
		t.Errorf("TZ empty: %q", got)
	}
	t.Setenv("TZ", "No/Such_Zone")
	if got := LocalTimeZone(); !validZone(got) || location(got) == nil {
		t.Errorf("unknown TZ: %q", got)
	}
	for tz, off := range map[string]int{"UTC+01:00": 3600, "UTC-05:30": -19800, "Europe/Berlin": 3600, "": 0, "Mars/Base": 0, "UTC+99:00": 0} {
		_, got := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(location(tz)).Zone()
		if got != off {
			t.Errorf("location(%q) offset %d, want %d", tz, got, off)
		}
	}
}

// FuzzVerify feeds arbitrary envelopes. Anything that verifies must be
// exactly what Sign would produce, render as a PDF, and have a Digest.
func FuzzVerify(f *testing.F) {
	key := testKey(1)
	signed := mustSign(f, sample(key), key)
	f.Add(signed)
	f.Add(bytes.Replace(signed, []byte(`"alg"`), []byte(`"ALG"`), 1))
	f.Add(bytes.TrimSpace(signed))
	f.Add([]byte(`{"v":1,"alg":"Ed25519","key":"","payload":"","sig":""}`))
	f.Add([]byte(`{"v":1,"v":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, pub, err := Verify(data)
		if err != nil {
			return
		}
		checkVerified(t, r, pub)
	})
}

// FuzzPayload signs arbitrary payloads with a valid key, so the fuzzer
// reaches the record parser behind the signature (a hostile host signs
// what it likes). Whatever verifies must re-sign to the same bytes.
func FuzzPayload(f *testing.F) {
	key := testKey(1)
	signed := mustSign(f, sample(key), key)
	var env envelope
	if err := json.Unmarshal(signed, &env); err != nil {
		f.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(env.Payload)
	f.Add(p)
	f.Add(bytes.Replace(p, []byte(`"v":1`), []byte(`"V":1`), 1))
	f.Add(bytes.Replace(p, []byte(`Z"`), []byte(`+00:00"`), 1))
	min, _ := json.Marshal(normalize(Record{ID: "2026-11-27T1430Z-0a1b2c3d", Host: Party{Key: key.Public().(ed25519.PublicKey)}, Start: t0, End: t0}))
	f.Add(min)
	withScr, _ := json.Marshal(normalize(withScreen()))
	f.Add(withScr)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		data := resign(p, key)
		r, pub, err := Verify(data)
		if err != nil {
			return
		}
		checkVerified(t, r, pub)
		again, err := Sign(r, key)
		if err != nil {
			t.Fatalf("a verified record does not sign again: %v", err)
		}
		if !bytes.Equal(bytes.TrimSuffix(again, []byte("\n")), data) {
			t.Fatalf("verified payload is not what Sign writes:\n%s\n%s", again, data)
		}
	})
}

func checkVerified(t *testing.T, r Record, pub ed25519.PublicKey) {
	t.Helper()
	if !pub.Equal(ed25519.PublicKey(r.Host.Key)) {
		t.Fatal("verified record names another host key")
	}
	if !ValidID(r.ID) {
		t.Fatalf("verified record has id %q", r.ID)
	}
	if _, err := Digest(r); err != nil {
		t.Fatalf("Digest of a verified record: %v", err)
	}
	if _, err := PDF(r); err != nil {
		t.Fatalf("PDF of a verified record: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	key := testKey(1)
	signed := mustSign(b, long(key, 300), key)
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Verify(signed); err != nil {
			b.Fatal(err)
		}
	}
}
