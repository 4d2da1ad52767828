package relay

import (
	"net"
	"testing"
)

func TestPeerAllowed(t *testing.T) {
	cases := []struct {
		ip             string
		public, anyway bool // allowed without / with AllowPrivate
	}{
		{"8.8.8.8", true, true},
		{"203.0.113.7", false, true},      // documentation, RFC 5737
		{"192.0.2.1", false, true},        // documentation
		{"198.51.100.200", false, true},   // documentation
		{"198.51.99.1", true, true},       // next to it
		{"3fff::1", false, true},          // documentation, RFC 9637
		{"2001:2::1", false, true},        // benchmarking
		{"2002:7f00:1::1", false, true},   // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::", false, true}, // 6to4 of 169.254.169.254
		{"2002:808:808::1", true, true},   // 6to4 of 8.8.8.8
		{"2a00:1450:4001:80b::200e", true, true},
		{"127.0.0.1", false, true},
		{"127.255.0.1", false, true},
		{"::1", false, true},
		{"0.0.0.0", false, true},
		{"::", false, true},
		{"0.1.2.3", false, true},
		{"10.0.0.1", false, true},
		{"172.16.5.4", false, true},
		{"172.31.255.255", false, true},
		{"172.32.0.1", true, true},
		{"192.168.0.1", false, true},
		{"100.64.0.1", false, true},
		{"100.100.100.200", false, true},
		{"100.128.0.1", true, true},
		{"169.254.169.254", false, true},
		{"169.254.1.1", false, true},
		{"fe80::1", false, true},
		{"fd00:ec2::254", false, true},
		{"fc00::1", false, true},
		{"192.0.0.192", false, true},
		{"168.63.129.16", false, true}, // Azure WireServer
		{"168.63.129.17", true, true},
		{"198.18.0.1", false, true},
		{"240.0.0.1", false, true},
		{"::ffff:127.0.0.1", false, true}, // IPv4-mapped loopback
		{"::ffff:8.8.8.8", true, true},    // IPv4-mapped public
		{"64:ff9b::a00:1", false, true},   // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true, true},  // NAT64 of 8.8.8.8
		{"64:ff9b::e000:1", false, false}, // NAT64 of 224.0.0.1
		{"224.0.0.1", false, false},       // multicast
		{"239.255.255.250", false, false}, // SSDP multicast
		{"ff02::1", false, false},         // IPv6 multicast
		{"255.255.255.255", false, false}, // broadcast
	}
	for _, c := range cases {
		ip := net.ParseIP(c.ip)
		if ip == nil {
			t.Fatalf("bad test address %q", c.ip)
		}
		if got := peerAllowed(ip, false); got != c.public {
			t.Errorf("peerAllowed(%s, false) = %v, want %v", c.ip, got, c.public)
		}
		if got := peerAllowed(ip, true); got != c.anyway {
			t.Errorf("peerAllowed(%s, true) = %v, want %v", c.ip, got, c.anyway)
		}
	}
	if peerAllowed(nil, true) || peerAllowed(net.IP{1, 2, 3}, true) {
		t.Error("malformed IP allowed")
	}
}
