package cpace

// Test hooks. The draft forbids exposing K from the protocol API (section
// 10.3), so the group primitives the vector tests need are exported to tests
// only.

// ScalarMultVfy is G.scalar_mult_vfy(y, X) with a fixed 32-byte scalar.
func ScalarMultVfy(y, x []byte) ([]byte, error) {
	s, err := fixedScalar(y)
	if err != nil {
		return nil, err
	}
	return scalarMultVfy(s, x)
}

// ScalarMult is G.scalar_mult(y, decode(X)) without the identity check; it
// fails only if X does not decode.
func ScalarMult(y, x []byte) ([]byte, error) {
	s, err := fixedScalar(y)
	if err != nil {
		return nil, err
	}
	p, err := decodePoint(x)
	if err != nil {
		return nil, err
	}
	return p.ScalarMult(s, p).Encode(nil), nil
}

// DeriveISK is SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript).
func DeriveISK(sid, k, transcript []byte) []byte { return deriveISK(sid, k, transcript) }
