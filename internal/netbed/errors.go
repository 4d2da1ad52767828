package netbed

import "errors"

var (
	// ErrNotRoot means the process is not root, which building namespaces,
	// veths and nftables rules needs.
	ErrNotRoot = errors.New("netbed: needs root")

	// ErrMissingTool means a program the bed runs is not installed; the
	// error names the program and its Debian package.
	ErrMissingTool = errors.New("netbed: missing tool")

	// ErrNoNetns means this kernel or system has no network namespaces.
	ErrNoNetns = errors.New("netbed: network namespaces unavailable")

	// ErrUnknownKind means a site kind name is none of the six kinds.
	ErrUnknownKind = errors.New("netbed: unknown site kind")

	// ErrClosed means the bed (or a forwarder) was closed.
	ErrClosed = errors.New("netbed: closed")

	// ErrNoRouter means a proxy was asked for on a site without a router (a
	// public site).
	ErrNoRouter = errors.New("netbed: site has no router")
)
