// Package console is the local web console of a running peer: an HTTP server
// on loopback that shows a Backend's State (the code, the join link and its QR
// code, participants, chat, files, consent, notes, records, known peers) and
// forwards the user's actions to it. The page is embedded (ui/); API.md
// documents the HTTP API, its security and the page's data-testid hooks.
//
// Only the user of this computer may reach it: it listens on a loopback
// address only, checks the Host header against its own address (DNS
// rebinding), refuses cross-site and cross-origin requests (Fetch Metadata,
// http.CrossOriginProtection) and requires the per-run token of the URL the
// peer opened. The token never appears on a command line: OpenBrowser gives
// the browser a page only this user can read, which leads on to the URL.
//
// console sits on top, beside cli, and must never import another direkt
// package: standard library and github.com/skip2/go-qrcode only
// (internal/deptest). internal/app implements Backend; internal/cli wires
// the two together.
package console
