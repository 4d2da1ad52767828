// Package relay runs direkt's STUN/TURN server on pion/turn: it serves the
// listeners the caller opened, issues short-lived TURN REST credentials
// (draft-uberti-behave-turn-rest-00), limits allocations per credential, and
// applies a peer-address policy so that the relay cannot be used to reach
// loopback, private or cloud-metadata addresses of the network it runs in.
//
// relay is a server package. It imports internal/wire (for ICE server
// descriptions) and pion, and must never import the rendezvous, pairing,
// session, cli or console packages.
package relay
