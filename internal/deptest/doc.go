// Package deptest holds one test: the import rules of DESIGN.md for every
// package of the module (protocol leaves import nothing of ours, servers
// import protocol packages, services sit on a session, cli sits on top). It
// has no code of its own and nothing imports it.
package deptest
