// Package portmap asks the local gateway (the home router) to forward a UDP
// port to this host, with whichever of three protocols the router speaks:
// PCP (RFC 6887), NAT-PMP (RFC 6886) or UPnP IGD (WANIPConnection or
// WANPPPConnection over SSDP, HTTP and SOAP). A peer behind a NAT that maps
// every destination to a new port (endpoint-dependent, "hard") is otherwise
// unreachable directly; with a mapping, the external address the router
// reports reaches the mapped socket from anywhere.
//
// A [Mapper] holds one mapping for one local socket: [Mapper.Run] finds the
// gateway (the default route of the interface that holds the local address),
// tries the enabled protocols at once and keeps the first that answers,
// reports the external address, renews the mapping at half its lifetime and
// deletes it when its context ends.
//
// Everything the network sends back is treated as hostile: replies must come
// from the gateway, have the expected size, opcode, nonce and port; an SSDP
// answer may only point at an HTTP server on the gateway itself; device
// descriptions and SOAP replies are read up to a small limit and parsed
// strictly. Every parser has a fuzz target.
//
// portmap is a protocol leaf: it imports the standard library and
// golang.org/x/net only, never another direkt package, and it never logs
// secrets (there are none: mappings carry addresses and ports).
package portmap
