// Package consult is a consultation over one connected session
// (docs/consult.md): the host and client roles, hello, chat, consent requests
// and answers, files both ways with hashes, the record handed to the client,
// the control messages of screen sharing (screen.go, docs/screen.md), and
// ending everything at once.
//
// Consent is enforced where it matters, on the client: a host file arrives
// only for an ask the client accepted, with the accepted name, size and
// SHA-256, and a record only after the client accepted "record"; anything
// else is refused, its channel closed and nothing stored. The host's screen
// share is taken only while the client's "screen" consent stands, and
// stops when it ends. No message can do
// anything else to the other computer. Every line from the peer is validated
// (message.go); a violation ends the consultation with ErrProtocol.
//
// A resumable consultation (Config.Resumable, for a browser client) outlives
// its session: when the session or the consult channel is lost it waits
// (Suspended) until Resume carries it on over a new session, each side
// resending the lines the other did not get, or Abandon ends it
// (resume.go; docs/consult.md, "Resuming").
//
// One Consultation owns these goroutines, all stopped and waited for before
// Done is closed: per session in use (a link), the reader and the writer of
// the "consult" channel, the acceptor of the peer's channels and a watcher
// of the session; one per file in flight; one that holds back our pointer
// position while its rate is used up; and the reaper that ends it all.
//
// consult is a service: it uses session.Session and session.Channel, and
// transfer.SanitizeName for the peer's file names, and nothing else of
// direkt's; it must never import pion, pairing, or anything above it (app,
// console, cli).
package consult
