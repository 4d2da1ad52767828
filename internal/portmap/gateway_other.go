//go:build !linux

package portmap

import (
	"fmt"
	"net/netip"
)

// defaultGateway guesses the gateway where the routing table is not read:
// the first host address of the local address's subnet (192.168.1.1 for
// 192.168.1.23/24), which is what home routers use almost everywhere. A
// wrong guess costs one unanswered request. Config.Gateway overrides it.
func defaultGateway(local netip.Addr) (netip.Addr, error) {
	_, prefix, err := interfaceOf(local)
	if err != nil {
		return netip.Addr{}, err
	}
	if prefix.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("%w: %v is a point-to-point link", ErrNoGateway, prefix)
	}
	gw := prefix.Masked().Addr().Next()
	if gw == local {
		return netip.Addr{}, fmt.Errorf("%w: %v is the first address of its subnet", ErrNoGateway, local)
	}
	return gw, nil
}
