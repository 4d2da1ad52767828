// Package rendezvous is direkt's rendezvous server: it hands out nameplates,
// joins the two peers of a code in a mailbox over WebSocket, relays their
// opaque bodies in order, issues ICE servers (with TURN credentials) to
// paired peers only, and enforces the limits of docs/protocol.md section 3.
// For known peers (section 8) it lets a host listen on rejoin channels, rings
// it when a client dials one, and joins the answering connection and the
// dialer in a fresh mailbox. A paired side that asked for a reopen token
// may come back on a new connection within a grace period after its
// connection dropped and pick up where it was (section 3.1). It never sees a code's words, a rejoin token,
// keys or anything the bodies carry, and it logs nameplates and channels
// only as a keyed hash.
//
// rendezvous is a server package: it imports internal/wire, coder/websocket
// and x/time/rate. It must never import pairing, session, cli or console;
// it does not import relay either — the caller wires relay.ICEServers in
// through Config.ICEServers.
package rendezvous
