// Package known stores the peers a host lets reconnect without a code, and
// the hosts a client may reconnect to (docs/protocol.md, section 8): their
// public keys, names and rejoin tokens, in the user's data folder.
//
// Each list is one JSON file (PeersFile, HostsFile) written atomically
// (temp file, fsync, rename) with mode 0600. A missing file is an empty
// list; a corrupt one is refused and never overwritten. Tokens are secrets:
// a Peer prints, logs and marshals without its token.
//
// known is a leaf: standard library only, no direkt imports. It does not
// know how a token becomes a rendezvous channel (pairing.Channel does).
package known
