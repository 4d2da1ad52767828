//go:build race

package session

// raceEnabled shrinks bulk transfers under the race detector, which slows
// pion's SCTP by about 25 times.
const raceEnabled = true
