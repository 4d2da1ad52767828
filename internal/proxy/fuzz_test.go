package proxy

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 Connection established\r\n\r\n",
		"HTTP/1.0 200 OK\r\nProxy-Agent: tinyproxy/1.11.1\r\n\r\ntunnel bytes",
		"HTTP/1.1 403 Access violation\r\nContent-Length: 3\r\n\r\nno!",
		"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 299 odd\r\n\r\n",
		"HTTP/1.1 200\r\n\r\n",
		"\x16\x03\x01\x00",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		br := bufio.NewReaderSize(&limitReader{r: strings.NewReader(s), n: MaxReply}, 4096)
		err := ReadReply(br)
		if err != nil && !errors.Is(err, ErrReply) && !errors.Is(err, ErrRefused) {
			t.Fatalf("ReadReply: unexpected error kind %v", err)
		}
		if err == nil && !strings.HasPrefix(s, "HTTP/1.") {
			t.Fatalf("accepted a reply that is not HTTP/1.x: %q", s)
		}
	})
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"http://proxy:3128", "proxy:3128", "http://u:p@[::1]:8080", "https://x", "http://", "%zz", "http://a/b?c#d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrProxyURL) {
				t.Fatalf("ParseURL: error %v is not ErrProxyURL", err)
			}
			return
		}
		if u.Scheme != "http" || u.Hostname() == "" {
			t.Fatalf("ParseURL(%q) accepted %v", s, u)
		}
	})
}

func FuzzNoProxy(f *testing.F) {
	for _, s := range [][2]string{
		{"example.org,.corp.example", "www.example.org:443"},
		{"10.0.0.0/8 192.0.2.7:443", "10.1.2.3:443"},
		{"[2001:db8::1]:443,*.local", "[2001:db8::1]:443"},
		{"*", "relay.example:443"},
		{"", "127.0.0.1:443"},
		{",,, :443 [", "host"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, list, addr string) {
		n := parseNoProxy(list)
		got := n.match(addr)
		if n.all && !got {
			t.Fatalf("NO_PROXY %q has * but %q goes through the proxy", list, addr)
		}
		for _, lo := range []string{"127.0.0.1:443", "[::1]:443", "localhost:443"} {
			if !n.match(lo) {
				t.Fatalf("NO_PROXY %q: loopback %s goes through the proxy", list, lo)
			}
		}
	})
}
