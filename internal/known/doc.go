// Package known stores the peers a host lets reconnect without a code, and
// the hosts a client may reconnect to (docs/protocol.md, section 8): their
// public keys, names and rejoin tokens, in the user's data folder.
//
// known is a leaf: standard library only, no direkt imports.
package known
