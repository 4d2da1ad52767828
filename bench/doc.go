// Package bench measures direkt end to end on loopback, in one command:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
//
// It starts a real rendezvous and relay server ("direkt server" run
// in-process through cli.Main), moves one file with "direkt send" and
// "direkt receive" (also through cli.Main, reading their --json events)
// directly and through the relay, and sets two bare references beside them:
// a detached pion/webrtc data channel and a quic-go stream, each moving the
// same number of bytes over loopback UDP. It prints a Markdown table with
// MiB/s, CPU cost and code-entered-to-connected milliseconds, and the ratio
// of the direct transfer to quic-go. DIREKT_BENCH_BYTES sets the size
// (default 1 GiB); see README.md.
//
// It is a benchmark, not a timed test: nothing asserts a speed. The tests in
// this package run the same code paths with a few MiB and check outcomes
// (exit codes, paths, digests, byte counts) so that the benchmark cannot rot.
//
// The package has no API. Nothing may import it; it may import cli and the
// transports it measures, but no product package may depend on it.
package bench
