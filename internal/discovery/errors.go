package discovery

import "errors"

var (
	// ErrNotFound is returned by Lookup when no announcer with the nameplate
	// answered before its context ended. It is wrapped together with the
	// context's error.
	ErrNotFound = errors.New("discovery: no peer with that nameplate on the local network")

	// ErrInvalidNameplate means the nameplate is not a decimal number without
	// a leading zero (docs/protocol.md §2). It guards against a whole code,
	// words included, being passed where only the public nameplate belongs.
	ErrInvalidNameplate = errors.New("discovery: invalid nameplate")

	// ErrInvalidAnnouncement means the Announcement's instance name or port
	// cannot be announced.
	ErrInvalidAnnouncement = errors.New("discovery: invalid announcement")

	// ErrNoInterfaces means no selected interface could join the mDNS group
	// for either IPv4 or IPv6, so nothing can be sent or heard.
	ErrNoInterfaces = errors.New("discovery: no multicast-capable interface")
)
