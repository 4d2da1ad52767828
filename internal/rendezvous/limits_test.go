package rendezvous

import (
	"net/http/httptest"
	"testing"
)

func TestClientKey(t *testing.T) {
	cases := []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.7:5000", "", false, "192.0.2.7"},
		{"[2001:db8:1:2:3::9]:5000", "", false, "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:6000", "", false, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:5000", "", false, "192.0.2.7"},
		{"[fe80::1%eth0]:5000", "", false, "fe80::/64"},
		{"192.0.2.7:5000", "198.51.100.1", false, "192.0.2.7"},
		{"192.0.2.7:5000", "203.0.113.9, 198.51.100.1", true, "198.51.100.1"},
		{"192.0.2.7:5000", "2001:db8::5", true, "2001:db8::/64"},
		{"192.0.2.7:5000", "", true, "192.0.2.7"},
	}
	for _, c := range cases {
		s := New(Config{TrustProxyHeaders: c.trust})
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientKey(r); got != c.want {
			t.Errorf("clientKey(%s, xff %q, trust %v) = %q, want %q", c.remote, c.xff, c.trust, got, c.want)
		}
	}
}
