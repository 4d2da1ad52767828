package e2e

import "github.com/direkt/direkt/internal/netbed"

// relayAllow are the server flags that let a bed's relay reach the sites'
// public addresses, which are documentation ranges that it would refuse
// (netbed.SitePrefixes); real public addresses need no such flag.
func relayAllow() []string {
	var args []string
	for _, p := range netbed.SitePrefixes() {
		args = append(args, "--relay-allow", p.String())
	}
	return args
}
