// Package e2e holds process-level end-to-end tests of the direkt binary. Its
// TestMain builds ./cmd/direkt once with "go build"; the tests run that binary
// as real processes (server, send, receive), read their --json events line by
// line from stdout pipes, and check exit codes, events and the files on disk.
// As root on Linux they also build a small internet of network namespaces
// (a server site and two client sites, public or behind nftables NAT) and a
// LAN segment for the server-less mDNS mode; and the NAT matrix
// (matrix_linux_test.go): every pair of internal/netbed's six site kinds at
// 0 and 40 ms round-trip time, one bed per cell.
//
// The package has no non-test code and is imported by nothing. Its tests may
// import protocol leaves for test data (internal/code for word lists) and the
// test bed internal/netbed, but never the layers under test (cli, pairing,
// session, transfer, rendezvous, relay): the binary is the only way in, as it
// is for a user.
package e2e
