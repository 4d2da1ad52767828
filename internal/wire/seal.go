package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// Sealed frames (docs/protocol.md, section 4.3): AES-256-GCM with the nonce
// 0x00000000 || seq and the 10-byte header version || kind || seq as
// additional data. Each direction has its own key (Keys.SealAB, Keys.SealBA),
// so a (key, nonce) pair is never used twice as long as seq never repeats,
// which Sealer guarantees.

func newGCM(key [32]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("wire: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wire: gcm: %w", err)
	}
	return aead, nil
}

func sealedHeader(seq uint64) [SealedHeaderSize]byte {
	var h [SealedHeaderSize]byte
	h[0], h[1] = Version, KindSealed
	binary.BigEndian.PutUint64(h[2:], seq)
	return h
}

func sealedNonce(seq uint64) [12]byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// Sealer seals the signals of one direction. It is safe for concurrent use;
// each Seal takes the next sequence number, so callers that seal from several
// goroutines must also send in the order they sealed (seal and send under one
// lock), or the peer's Opener will refuse the frames.
type Sealer struct {
	aead cipher.AEAD

	mu  sync.Mutex
	seq uint64 // next sequence number; mu must be held
}

// NewSealer returns a Sealer for key (Keys.SealAB on peer a, Keys.SealBA on
// peer b) whose first frame has sequence number 0.
func NewSealer(key [32]byte) (*Sealer, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal validates sig and returns the whole sealed body (header included),
// ready for a mailbox "add". It refuses a signal whose body would exceed
// MaxBody with ErrTooLarge; a refused signal does not use up a sequence
// number.
func (s *Sealer) Seal(sig Signal) ([]byte, error) {
	pt, err := sig.Marshal()
	if err != nil {
		return nil, err
	}
	size := SealedHeaderSize + len(pt) + s.aead.Overhead()
	if size > MaxBody {
		return nil, fmt.Errorf("%w: sealed %s of %d bytes", ErrTooLarge, sig.T, size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq == math.MaxUint64 {
		// Unreachable with MaxBodiesPerSide, but a wrapped counter would
		// reuse nonces.
		return nil, fmt.Errorf("%w: sequence numbers exhausted", ErrSequence)
	}
	h := sealedHeader(s.seq)
	n := sealedNonce(s.seq)
	out := make([]byte, SealedHeaderSize, size)
	copy(out, h[:])
	out = s.aead.Seal(out, n[:], pt, h[:])
	s.seq++
	return out, nil
}

// Opener opens the sealed frames of one direction, strictly in order. It is
// safe for concurrent use. Its first failure is permanent: after any error,
// every later Open returns ErrBroken, because a sealed channel that has seen
// a forged, replayed or reordered frame cannot be trusted again.
type Opener struct {
	aead cipher.AEAD

	mu     sync.Mutex
	next   uint64 // mu must be held
	broken error  // first failure; mu must be held
}

// NewOpener returns an Opener for key (Keys.SealBA on peer a, Keys.SealAB
// on peer b) that expects sequence number 0 first.
func NewOpener(key [32]byte) (*Opener, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &Opener{aead: aead}, nil
}

// Open authenticates and decodes a whole sealed body (as received in a
// mailbox "message"). It accepts only the next expected sequence number
// (ErrSequence otherwise), fails with ErrAuth if the frame does not
// authenticate, and validates the signal inside (ErrMalformed,
// ErrUnknownType, ErrTooLarge).
func (o *Opener) Open(body []byte) (Signal, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken != nil {
		return Signal{}, fmt.Errorf("%w: %w", ErrBroken, o.broken)
	}
	sig, err := o.openLocked(body)
	if err != nil {
		o.broken = err
		return Signal{}, err
	}
	o.next++
	return sig, nil
}

func (o *Opener) openLocked(body []byte) (Signal, error) {
	f, err := ParsePairingFrame(body)
	if err != nil {
		return Signal{}, err
	}
	if f.Kind != KindSealed {
		return Signal{}, fmt.Errorf("%w: kind 0x%02x where a sealed frame was expected", ErrMalformed, f.Kind)
	}
	if f.Seq != o.next {
		return Signal{}, fmt.Errorf("%w: got %d, want %d", ErrSequence, f.Seq, o.next)
	}
	h := sealedHeader(f.Seq)
	n := sealedNonce(f.Seq)
	pt, err := o.aead.Open(f.Sealed[:0], n[:], f.Sealed, h[:])
	if err != nil {
		return Signal{}, ErrAuth
	}
	return ParseSignal(pt)
}
