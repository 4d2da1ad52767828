// Package app is a running consultation peer — `direkt host` or `direkt join` —
// wired together: pairing by code or as a known peer, the session, the
// consultation service, records and known peers. It implements
// console.Backend's behaviour for the console and the CLI.
//
// app sits below cli and console (it never imports them) and above every
// service and protocol package.
package app
