//go:build race

package rendezvous_test

// raceEnabled: the race detector slows the server about eightfold, so the
// load test plays fewer clients by default.
const raceEnabled = true
