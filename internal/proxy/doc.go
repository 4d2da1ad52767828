// Package proxy opens TCP connections through HTTP CONNECT proxies
// (RFC 9110, section 9.3.6), the way a corporate network lets traffic out:
// the client asks the proxy to open a tunnel to host:port and then speaks
// its own protocol (TLS, WebSocket, TURN) through it.
//
// A [Dialer] picks the proxy per destination, from an explicit URL (the
// --proxy flag) or from HTTPS_PROXY, and leaves destinations that NO_PROXY
// names (and loopback) direct. direkt uses it for the mailbox WebSocket and
// for TURN over TCP and TLS; UDP never goes through a proxy.
//
// What a proxy sends back is treated as hostile: the reply is read up to a
// small limit and must be a 2xx status before the tunnel is handed out.
// Proxy credentials (http://user:password@host:port) are sent as Basic
// Proxy-Authorization and never logged.
//
// proxy imports only the standard library; it must never import another
// direkt package.
package proxy
