package cpace

import "errors"

var (
	// ErrInvalidPoint means a peer's share is not the canonical 32-byte
	// encoding of a ristretto255 element (draft-irtf-cfrg-cpace, section
	// 8.3: scalar_mult_vfy fails to decode). The run must be aborted.
	ErrInvalidPoint = errors.New("cpace: invalid point encoding")

	// ErrIdentity means the shared point K is the identity element, which
	// happens when the peer sent the identity as its share (section 7.2:
	// "MUST abort if K=G.I"). The run must be aborted.
	ErrIdentity = errors.New("cpace: shared point is the identity")

	// ErrInvalidScalar means a fixed scalar given to StartWithScalar or
	// RespondWithScalar is not a canonical, non-zero 32-byte little-endian
	// scalar.
	ErrInvalidScalar = errors.New("cpace: invalid scalar")

	// ErrEmptyPassword means PRS was empty. CPace would run, but with no
	// secret at all, which is always a bug in the caller.
	ErrEmptyPassword = errors.New("cpace: empty password")

	// ErrFinished means Finish was called on an Initiator that has already
	// finished (successfully or not): a CPace state is good for one run.
	ErrFinished = errors.New("cpace: initiator already finished")
)
