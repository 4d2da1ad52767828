// Package relay runs direkt's STUN/TURN server on pion/turn: it serves the
// listeners the caller opened, issues short-lived TURN REST credentials
// (draft-uberti-behave-turn-rest-00), limits allocations per credential,
// per client address and in total, and applies a peer-address policy so that
// the relay cannot be used to reach its own host or loopback, private or
// cloud-metadata addresses of the network it runs in. It makes no RFC 6062
// TCP allocations.
//
// A Mux puts HTTPS and TURN over TLS on one port (443, for networks that
// let nothing else out): it terminates TLS and sorts each connection by ALPN
// or by its first bytes, handing HTTP to an http.Server and TURN to the
// relay's TLSListener.
//
// relay is a server package. It imports internal/wire (for ICE server
// descriptions) and pion, and must never import the rendezvous, pairing,
// session, cli or console packages.
package relay
