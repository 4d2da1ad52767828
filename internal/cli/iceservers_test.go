package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/wire"
)

func TestICEOverride(t *testing.T) {
	issued := []wire.ICEServer{
		{URLs: []string{"stun:rv.example:3478"}},
		{URLs: []string{"turn:rv.example:3478?transport=udp"}, Username: "1:x", Credential: "p"},
	}
	cases := []struct {
		name  string
		flags iceFlags
		want  []wire.ICEServer
		usage bool
	}{
		{name: "none", flags: iceFlags{}, want: issued},
		{name: "replace", flags: iceFlags{
			urls: []string{"turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp", "stun:stun.example"},
			user: "alice", pass: "s3cret",
		}, want: []wire.ICEServer{
			{URLs: []string{"turn:turn.example:3478?transport=udp"}, Username: "alice", Credential: "s3cret"},
			{URLs: []string{"turn:turn.example:3478?transport=tcp"}, Username: "alice", Credential: "s3cret"},
			{URLs: []string{"stun:stun.example"}},
		}},
		{name: "add to issued", flags: iceFlags{
			urls: []string{"turns:turn.example:443?transport=tcp", "rendezvous"}, user: "alice", pass: "s3cret",
		}, want: append([]wire.ICEServer{
			{URLs: []string{"turns:turn.example:443?transport=tcp"}, Username: "alice", Credential: "s3cret"},
		}, issued...)},
		{name: "stun only", flags: iceFlags{urls: []string{"stun:[2001:db8::1]:3478"}},
			want: []wire.ICEServer{{URLs: []string{"stun:[2001:db8::1]:3478"}}}},
		{name: "only the issued", flags: iceFlags{urls: []string{"rendezvous"}}, want: issued},
		{name: "turn without credentials", flags: iceFlags{urls: []string{"turn:t.example"}}, usage: true},
		{name: "turn without password", flags: iceFlags{urls: []string{"turn:t.example"}, user: "alice"}, usage: true},
		{name: "credentials without turn", flags: iceFlags{urls: []string{"stun:t.example"}, user: "a", pass: "b"}, usage: true},
		{name: "credentials without servers", flags: iceFlags{pass: "b"}, usage: true},
		{name: "http URL", flags: iceFlags{urls: []string{"http://t.example"}}, usage: true},
		{name: "bad transport", flags: iceFlags{urls: []string{"turn:t.example?transport=sctp"}, user: "a", pass: "b"}, usage: true},
		{name: "stun with query", flags: iceFlags{urls: []string{"stun:t.example?transport=tcp"}}, usage: true},
		{name: "no host", flags: iceFlags{urls: []string{"turn::3478"}, user: "a", pass: "b"}, usage: true},
		// pion/stun's ParseURI recursed on this until the stack overflowed.
		{name: "unsplittable host", flags: iceFlags{urls: []string{"turn:[1]t"}, user: "a", pass: "b"}, usage: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := c.flags.override()
			if c.usage {
				if _, exit := classify(err); err == nil || exit != exitUsage {
					t.Fatalf("override() = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(o.apply(issued))
			want, _ := json.Marshal(c.want)
			if !bytes.Equal(got, want) {
				t.Fatalf("servers\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestICEFlagsFromEnv: the credentials default to $DIREKT_ICE_USER and
// $DIREKT_ICE_PASS, and the flags win over them.
func TestICEFlagsFromEnv(t *testing.T) {
	env := Env{Getenv: func(k string) string {
		return map[string]string{"DIREKT_ICE_USER": "env-user", "DIREKT_ICE_PASS": "env-pass"}[k]
	}}
	for _, tc := range []struct {
		args       []string
		user, pass string
	}{
		{[]string{"--ice-server", "turn:t.example"}, "env-user", "env-pass"},
		{[]string{"--ice-server", "turn:t.example", "--ice-user", "flag-user", "--ice-pass", "flag-pass"}, "flag-user", "flag-pass"},
	} {
		fs := newFlagSet("test", env)
		var f iceFlags
		f.register(fs, env)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o, err := f.override()
		if err != nil {
			t.Fatal(err)
		}
		got := o.apply(nil)
		if len(got) != 1 || got[0].Username != tc.user || got[0].Credential != tc.pass {
			t.Errorf("%v: servers %+v, want user %q and password %q", tc.args, got, tc.user, tc.pass)
		}
	}
}

// FuzzICEOverride: any flag values give a usage error or servers that keep
// the URLs in order and carry credentials on TURN URLs only.
func FuzzICEOverride(f *testing.F) {
	f.Add("turn:t.example:3478?transport=udp", "stun:s.example", "alice", "pw")
	f.Add("turns:[2001:db8::1]:443?transport=tcp", "rendezvous", "a", "b")
	f.Add("stun:s.example:19302", "", "", "")
	f.Add("turn:t.example?transport=sctp", "http://x", "", "pw")
	f.Add("TURN:T.EXAMPLE", "stun:", "u", "")
	f.Fuzz(func(t *testing.T, u1, u2, user, pass string) {
		var urls []string
		for _, u := range []string{u1, u2} {
			if u != "" {
				urls = append(urls, u)
			}
		}
		o, err := iceFlags{urls: urls, user: user, pass: pass}.override()
		if err != nil {
			if _, exit := classify(err); exit != exitUsage {
				t.Fatalf("error %v is not a usage error", err)
			}
			return
		}
		issued := []wire.ICEServer{{URLs: []string{"stun:issued.example"}}}
		got := o.apply(issued)
		var want []string
		for _, u := range urls {
			if strings.TrimSpace(u) == issuedKeyword {
				want = append(want, "stun:issued.example")
			} else {
				want = append(want, u)
			}
		}
		if o == nil {
			want = []string{"stun:issued.example"}
		}
		if len(got) != len(want) {
			t.Fatalf("%d servers for %q, want %d", len(got), urls, len(want))
		}
		for i, s := range got {
			if len(s.URLs) != 1 || s.URLs[0] != want[i] {
				t.Fatalf("server %d is %v, want %s", i, s.URLs, want[i])
			}
			turn := strings.HasPrefix(strings.ToLower(s.URLs[0]), "turn")
			if turn != (s.Username != "" || s.Credential != "") && s.URLs[0] != "stun:issued.example" {
				t.Fatalf("server %v: credentials %q/%q", s.URLs, s.Username, s.Credential)
			}
		}
	})
}

// TestICEFlagsUsage: every peer command checks the flags before it does
// anything else, and a mistake exits 2 with a usage error event.
func TestICEFlagsUsage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, cmd := range []string{"send", "receive", "host", "join"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{cmd, "--json", "--no-browser", "--ice-server", "turn:t.example:3478", "--data", t.TempDir()}
			if cmd == "send" || cmd == "receive" {
				args = []string{cmd, "--json", "--ice-server", "turn:t.example:3478", "x"}
			}
			if cmd == "host" {
				args = append(args, "--once")
			}
			env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
				if k == "DIREKT_HOME" {
					return t.TempDir()
				}
				return ""
			}}
			if code := Main(ctx, args, env); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitUsage, errb.String())
			}
			var e map[string]any
			if err := json.Unmarshal(out.Bytes(), &e); err != nil || e["kind"] != KindUsage || !strings.Contains(e["message"].(string), "--ice-user") {
				t.Fatalf("stdout %q, want one usage error naming --ice-user", out.String())
			}
		})
	}
}

// stunOnlyAndTURN runs a rendezvous without a relay (STUN only) and, apart
// from it, a TURN server with credentials, both on loopback.
func stunOnlyAndTURN(t *testing.T) (server string, turnUDP, turnTCP, user, pass string) {
	t.Helper()
	st, err := startStack(stackConfig{Listen: "127.0.0.1:0", TURNListen: "127.0.0.1:0", NoRelay: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{UDPConn: udp, TCPListener: tcp, RelayBindAddr: "127.0.0.1", AllowPrivate: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	user, pass, _ = rl.Credentials(time.Now())
	return "http://" + st.HTTPAddr.String(), udp.LocalAddr().String(), tcp.Addr().String(), user, pass
}

// TestICEServerOverride runs send and receive against a rendezvous without a
// relay and forces the relay: the only TURN server they can use is the one
// they name with --ice-server, over UDP and over TCP.
func TestICEServerOverride(t *testing.T) {
	server, turnUDP, turnTCP, user, pass := stunOnlyAndTURN(t)
	for _, tc := range []struct{ transport, addr string }{
		{"udp", turnUDP},
		{"tcp", turnTCP},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			src, out := t.TempDir(), t.TempDir()
			data := writeRandom(t, filepath.Join(src, "f.bin"), 1<<20)
			ice := []string{"--ice-server", "turn:" + tc.addr + "?transport=" + tc.transport, "--ice-user", user, "--ice-pass", pass, "--path", "relay"}
			se, re, sEvs, rEvs := sendReceive(t, ctx, server, append(ice, filepath.Join(src, "f.bin")), append(ice, "--out", out))
			if se != 0 || re != 0 {
				t.Fatalf("exit codes send=%d receive=%d: %v %v", se, re, sEvs, rEvs)
			}
			for _, evs := range [][]event{sEvs, rEvs} {
				c := lastEvent(evs, EventConnected)
				if c.str("path") != "relay" || c.str("local") != "relay" || c.str("proto") != tc.transport {
					t.Errorf("connected %v, want path relay from a local relay candidate over %s", c, tc.transport)
				}
			}
			got, _ := os.ReadFile(filepath.Join(out, "f.bin"))
			if !bytes.Equal(got, data) {
				t.Fatal("file differs after the transfer through the named relay")
			}
		})
	}
}

// TestICEServerOverrideHostJoin: host and join take the flags too (they go
// through internal/app).
func TestICEServerOverrideHostJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server, turnUDP, _, user, pass := stunOnlyAndTURN(t)
	ice := []string{"--ice-server", "turn:" + turnUDP + "?transport=udp", "--ice-user", user, "--ice-pass", pass, "--path", "relay"}
	host := run(t, ctx, "host", "", append([]string{"host", "--json", "--no-browser", "--server", server, "--data", t.TempDir(), "--once"}, ice...)...)
	code := host.next(ctx, EventCode)
	join := run(t, ctx, "join", "", append([]string{"join", "--json", "--no-browser", "--server", server, "--data", t.TempDir(), code.str("code")}, ice...)...)
	for _, p := range []*proc{host, join} {
		c := p.next(ctx, EventConnected)
		if c.str("path") != "relay" || c.str("local") != "relay" || c.str("proto") != "udp" {
			t.Errorf("%s connected %v, want path relay from a local relay candidate over udp", p.name, c)
		}
	}
}
