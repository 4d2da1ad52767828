// Package cpace implements the balanced PAKE CPace for the cipher suite
// CPACE-RISTR255-SHA512 (draft-irtf-cfrg-cpace, group ristretto255 with
// SHA-512), as direkt's pairing uses it (docs/protocol.md, section 4.1).
//
// Two peers that share a short code run one message each way: the initiator
// (peer a) calls Start and sends Ya, the responder (peer b) calls Respond on
// Ya and sends Yb, and the initiator calls Finish on Yb. Both end with the
// same 64-byte intermediate session key ISK if and only if they used the same
// password (PRS), channel identifier (CI), session id (sid) and saw the same
// messages. ISK is not yet authenticated: key confirmation and everything
// derived from ISK live in internal/wire.
//
// The implementation is pinned byte for byte to the draft's ristretto255 test
// vector (testdata/cpace-ristretto255-sha512.json). As the draft demands
// (section 10.3), the protocol API returns ISK and never the Diffie-Hellman
// point K.
//
// cpace is a protocol leaf: it imports only the standard library and
// github.com/gtank/ristretto255, never another direkt package, and it never
// logs.
package cpace
