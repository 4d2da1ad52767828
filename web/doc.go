// Package web holds the browser client (the zero-install join page) as built,
// committed assets and serves them. The sources and their build live next to
// this file (package.json, src/); dist/ is the committed output.
//
// web imports only the standard library.
package web
