// Package web holds the browser client (the zero-install join page) as built,
// committed assets and serves them. The sources and their build live next to
// this file (package.json, src/, build.mjs); dist/ is the committed output,
// embedded here and served by Handler under /j/ (README.md lists the routes,
// the page's states and its test ids).
//
// web imports only the standard library.
package web
