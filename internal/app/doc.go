// Package app is a running consultation peer — `direkt host` or `direkt join` —
// wired together: pairing by code or as a known peer, the session, the
// consultation service, records and known peers. Host and Join implement
// console.Backend for the console and the CLI.
//
// app sits above every service and protocol package and below cli: it
// imports console only for the Backend interface and its State types, and
// must never import cli (nor test helpers such as mitm or browsertest).
package app
