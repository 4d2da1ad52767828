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
		want  []wire.ICEServer // nil with wantIssued: the issued ones
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

// TestICEServerOverride runs send and receive against a rendezvous without a
// relay (STUN only) and forces the relay: the only TURN server they can use
// is the one they name with --ice-server, over UDP and over TCP.
func TestICEServerOverride(t *testing.T) {
	st, err := startStack(stackConfig{Listen: "127.0.0.1:0", TURNListen: "127.0.0.1:0", NoRelay: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	server := "http://" + st.HTTPAddr.String()

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
	user, pass, _ := rl.Credentials(time.Now())

	for _, tc := range []struct{ transport, addr string }{
		{"udp", udp.LocalAddr().String()},
		{"tcp", tcp.Addr().String()},
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
