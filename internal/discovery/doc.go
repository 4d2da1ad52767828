// Package discovery finds a peer's embedded rendezvous server on the local
// network by multicast DNS (RFC 6762) and DNS-based service discovery
// (RFC 6763), so that two PCs on one LAN need no server at all.
//
// `direkt send` without a configured server starts an embedded rendezvous
// server and calls [Announce] with its port and the nameplate it allocated;
// `direkt receive CODE` calls [Lookup] with the code's nameplate and gets the
// addresses of that server.
//
// # What goes on the wire
//
// An announcer owns four kinds of record (RFC 6763 §4, §5, §6):
//
//	_direkt._tcp.local.                PTR  <instance>._direkt._tcp.local.
//	<instance>._direkt._tcp.local.     SRV  0 0 <port> <instance>.local.
//	<instance>._direkt._tcp.local.     TXT  "v=1" "np=<nameplate>"
//	<instance>.local.                  A / AAAA of the interface the query came in on
//
// The nameplate is public (the rendezvous server sees it too). The secret words
// of a code never reach this package: it takes a nameplate, validates that it
// is a plain decimal number, and nothing else. mDNS is unauthenticated by
// design; anyone on the link can answer for any nameplate. That costs at most
// availability: the pairing that follows (CPace) fails against a peer that
// does not know the code, exactly as against a dishonest server.
//
// # Why our own implementation
//
// hashicorp/mdns (v1.0.7) binds 5353 without SO_REUSEPORT and so fights with
// avahi and with a second `direkt send` on the same host, cannot tell which
// interface a query arrived on (it answers with one fixed address list), logs
// with the standard library logger and pulls in miekg/dns. pion/mdns only
// answers A records. What direkt needs is small — a responder for one
// service instance and a one-shot browser for one TXT value — so it is written
// here on golang.org/x/net/dns/dnsmessage (a hardened parser: it bounds name
// length and compression pointers and rejects dots inside labels) and
// golang.org/x/net/ipv4 and ipv6 (group membership per interface, the arrival
// interface of every packet). Sockets set SO_REUSEADDR and SO_REUSEPORT, so
// any number of announcers and lookups coexist with each other and with avahi.
//
// # Simplifications, each deliberate
//
//   - No probing (RFC 6762 §8.1): instance and host names carry 48 random bits,
//     so a name conflict is not a practical concern for a session that lives
//     minutes. Conflicting answers from others are ignored.
//   - Interfaces and their addresses are read once, when Announce or Lookup
//     starts; a network change needs a new call. (This also keeps every
//     netlink access on the caller's thread, which lets tests run each side
//     in its own network namespace.)
//   - All records use a TTL of 120 s, RFC 6762 §10's host-record value, also
//     for PTR and TXT: the service is ephemeral, and a lost goodbye should
//     leave third-party caches quickly.
//
// This package is a leaf: it imports nothing of direkt, and must never import
// internal/code, internal/pairing or anything that holds a code's words.
package discovery
