// Package wire defines direkt's signalling messages and their sealing: the
// rendezvous mailbox frames (JSON over WebSocket), the pairing frames carried in
// mailbox bodies, the key schedule that follows CPace, and the sealed signalling
// messages (hello, SDP, candidates). See docs/protocol.md.
//
// wire is a protocol leaf: it imports only the standard library and crypto
// packages, never another direkt package.
package wire
