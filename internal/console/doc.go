// Package console is the local web console of a running peer: an HTTP server
// on loopback that shows a Backend's State (the code, the join link and its QR
// code, participants, chat, files, consent, notes, records, known peers) and
// forwards the user's actions to it.
//
// Only the user of this computer may reach it: it listens on 127.0.0.1, checks
// the Host header against its own address (DNS rebinding), refuses
// cross-origin requests (http.CrossOriginProtection) and requires the per-run
// token of the URL the peer opened.
//
// console sits on top, beside cli: it imports no protocol or service package;
// internal/app implements Backend.
package console
