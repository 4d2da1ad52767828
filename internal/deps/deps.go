// Package deps pins the modules direkt's packages are being built on, while the
// packages that use them are written. Deleted once every module is imported by
// real code.
package deps

import (
	_ "github.com/coder/websocket"
	_ "github.com/gtank/ristretto255"
	_ "github.com/pion/logging"
	_ "github.com/pion/transport/v5/vnet"
	_ "github.com/pion/turn/v5"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/quic-go/quic-go"
	_ "go.uber.org/goleak"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
)
