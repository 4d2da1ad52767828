// Package consult is a consultation over one connected session
// (docs/consult.md): the host and client roles, hello, chat, consent requests
// and answers, files both ways with hashes, the record handed to the client,
// and ending everything at once.
//
// consult is a service: it uses session.Session and session.Channel only,
// never pion, pairing or anything above it.
package consult
