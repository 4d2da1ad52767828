// Package netbed builds a small internet out of Linux network namespaces, so
// that tests can run the real direkt binary across real NATs: an "internet"
// namespace that routes (every hop decrements the TTL) between the server's
// network and two client sites A and B. Each site is one of six [Kind]s —
// a public address, a full-cone NAT, an easy (endpoint-independent) NAT, a
// hard (symmetric) NAT, an easy NAT that drops UDP, and a network that lets
// only TCP to port 443 out — made with nftables in a router namespace.
//
// # Topology
//
//	server 203.0.113.10 ── inet ──[delay]── site A 198.51.100.10 ── LAN 10.1.0.0/24
//	                         └────[delay]── site B 192.0.2.10    ── LAN 10.2.0.0/24
//
// Public addresses come from the documentation ranges of RFC 5737, LAN
// addresses from RFC 1918. A public site's host holds the site's public
// address itself; a NAT site's router holds it and its host sits on the LAN
// behind it at .10, with the router at .1. The bed is IPv4 only: IPv6 is
// switched off in every namespace so that no link-local candidate muddies a
// path report.
//
// # Latency
//
// This kernel has no tc netem and no NFQUEUE, so one-way latency comes from a
// userspace forwarder: with [Config].Delay set, each site's link to the
// internet runs through a namespace of its own in which two AF_PACKET sockets
// pass every Ethernet frame from one veth to the other after a fixed delay,
// in order, with the kernel's offload metadata (PACKET_VNET_HDR) kept so that
// TCP segmentation and checksum offload survive the detour. The forwarder is
// invisible to IP: it is a wire, not a router, so TTLs and addresses are as
// without it. Two peers in sites A and B see a round-trip time of 4×Delay,
// a peer and the server 2×Delay.
//
// # Bottlenecks
//
// The same forwarder makes a site's link a slow line: with [Config].Limit
// set for the site, frames leave it one after another at the limit's rate
// (each way), wait in a queue of bounded bytes before it, and are dropped
// when it is full, as by a router in front of a DSL or mobile line (tc's
// tbf, which this kernel lacks too). TCP through an 8 Mbit/s line with 40 ms
// RTT moves 7.6 Mbit/s of payload (BenchmarkBottleneck); UDP sent at twice
// the rate of a 2 Mbit/s line arrives at 2.00 Mbit/s, the rest dropped
// (TestBottleneck).
//
// # Processes
//
// [Bed.Command] builds an exec.Cmd that runs in one of the bed's namespaces
// ("ip netns exec"); the caller owns such processes. [Bed.StartProxy] starts
// an HTTP CONNECT proxy from Debian (tinyproxy or squid) on a site's router,
// owned by the bed. [Bed.Close] stops the bed's proxies and forwarders and
// deletes every namespace, and with them every veth; [SweepStale] removes
// the namespaces of earlier test processes that were killed before they could
// clean up.
//
// Everything here needs Linux and root; [Available] says why not when it
// cannot work. The package is test infrastructure: it must never be imported
// by the product's packages (cmd/direkt and what it imports), and it imports
// nothing of direkt's own.
package netbed
