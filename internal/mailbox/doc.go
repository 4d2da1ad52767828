// Package mailbox is the client side of the rendezvous mailbox protocol
// (docs/protocol.md section 3): it dials the rendezvous server's WebSocket,
// allocates or claims a nameplate — or, for known peers (section 8), listens
// on rejoin channels, dials one or answers a ring — and exchanges opaque
// bodies with the peer in the same mailbox. It knows nothing of what the bodies mean; pairing
// puts CPace messages and sealed signalling in them.
//
// Dial reaches https/wss servers with private CA roots and through a caller's
// dialer (an HTTP CONNECT proxy) when DialOptions say so.
//
// With DialOptions.Reopen a paired Conn survives its WebSocket dropping: it
// pings the server, redials with backoff and reclaims its side with the
// reopen token from "paired" (section 3.1), re-sending exactly the bodies
// the server did not get.
//
// mailbox imports internal/wire and coder/websocket. It must never import
// the rendezvous server, pairing, session, cli or console packages.
package mailbox
