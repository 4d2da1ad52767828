package wire

import (
	"errors"
	"testing"
)

// sealRaw seals arbitrary plaintext, as a peer that holds the key but breaks
// the rules could.
func sealRaw(t *testing.T, s *Sealer, pt []byte) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	h, n := sealedHeader(s.seq), sealedNonce(s.seq)
	s.seq++
	return s.aead.Seal(append([]byte(nil), h[:]...), n[:], pt, h[:])
}

// An authenticated frame is still checked: a peer with the key cannot make
// us act on an invalid signal.
func TestOpenValidatesAuthenticatedSignals(t *testing.T) {
	var key [32]byte
	key[0] = 1
	for _, c := range []struct {
		pt   string
		want error
	}{
		{`{"t":"shell","cmd":"rm -rf /"}`, ErrUnknownType},
		{`{"t":"hello","v":2}`, ErrMalformed},
		{`{"t":"cand","c":"candidate:1\r\na=x"}`, ErrMalformed},
		{`not json`, ErrMalformed},
	} {
		s, err := NewSealer(key)
		if err != nil {
			t.Fatal(err)
		}
		o, err := NewOpener(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open(sealRaw(t, s, []byte(c.pt))); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.pt, err, c.want)
		}
		if _, err := o.Open(sealRaw(t, s, []byte(`{"t":"cand-end"}`))); !errors.Is(err, ErrBroken) {
			t.Errorf("after %s: %v, want ErrBroken", c.pt, err)
		}
	}
}
