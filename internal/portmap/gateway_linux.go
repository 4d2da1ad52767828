package portmap

import (
	"fmt"
	"net/netip"
	"os"
)

// defaultGateway returns the gateway of the default route on the interface
// that holds local.
func defaultGateway(local netip.Addr) (netip.Addr, error) {
	ifname, _, err := interfaceOf(local)
	if err != nil {
		return netip.Addr{}, err
	}
	table, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrNoGateway, err)
	}
	return parseProcRoute(table, ifname)
}
