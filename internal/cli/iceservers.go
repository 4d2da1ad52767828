package cli

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pion/stun/v4"

	"github.com/direkt/direkt/internal/wire"
)

// issuedKeyword is the --ice-server value that stands for the servers the
// rendezvous issued, so that a user can add servers of their own to them
// instead of replacing them.
const issuedKeyword = "rendezvous"

// iceFlags are --ice-server (repeatable), --ice-user and --ice-pass: STUN and
// TURN servers of the user's choosing, such as a company's coturn.
//
// Servers given with --ice-server replace those the rendezvous issues, so
// that a relayed connection goes through the user's relay and no other (and
// a forced --path relay proves that it does); --ice-server rendezvous puts
// the issued ones back into the list at its place. The override is this
// peer's alone: the other side uses its own flags, and the browser client
// always the issued servers. --ice-user and --ice-pass are the long-term
// credentials (RFC 8489, section 9.2) of every turn:/turns: URL given; the
// password may come from $DIREKT_ICE_PASS so that it does not show in the
// process list.
type iceFlags struct {
	urls []string
	user string
	pass string
}

func (f *iceFlags) register(fs *flag.FlagSet, env Env) {
	fs.Func("ice-server", "STUN/TURN server URL to use instead of the rendezvous's, e.g. 'turn:turn.example.org:3478?transport=tcp' (repeatable; \"rendezvous\" adds the rendezvous's servers back)", func(s string) error {
		f.urls = append(f.urls, s)
		return nil
	})
	fs.StringVar(&f.user, "ice-user", env.Getenv("DIREKT_ICE_USER"), "user name for the --ice-server TURN URLs (default $DIREKT_ICE_USER)")
	fs.StringVar(&f.pass, "ice-pass", env.Getenv("DIREKT_ICE_PASS"), "password for the --ice-server TURN URLs (default $DIREKT_ICE_PASS)")
}

// iceOverride turns the servers the rendezvous issued into the ones a
// session uses. nil means the issued ones as they are.
type iceOverride func(issued []wire.ICEServer) []wire.ICEServer

// override checks the flags and returns the override, nil when no
// --ice-server was given. Mistakes are usage errors.
func (f iceFlags) override() (iceOverride, error) {
	if len(f.urls) == 0 {
		if f.user != "" || f.pass != "" {
			return nil, usagef("--ice-user and --ice-pass need an --ice-server turn: URL")
		}
		return nil, nil
	}
	type entry struct {
		issued bool
		server wire.ICEServer
	}
	var (
		entries []entry
		turn    bool
	)
	for _, u := range f.urls {
		u = strings.TrimSpace(u)
		if u == issuedKeyword {
			entries = append(entries, entry{issued: true})
			continue
		}
		uri, err := parseICEURL(u)
		if err != nil {
			return nil, usagef(fmt.Sprintf("--ice-server %q: want stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp], turns:… or %q (%v)", u, issuedKeyword, err))
		}
		s := wire.ICEServer{URLs: []string{u}}
		if uri.Scheme == stun.SchemeTypeTURN || uri.Scheme == stun.SchemeTypeTURNS {
			turn = true
			s.Username, s.Credential = f.user, f.pass
		}
		entries = append(entries, entry{server: s})
	}
	switch {
	case turn && (f.user == "" || f.pass == ""):
		return nil, usagef("a TURN --ice-server needs --ice-user and --ice-pass")
	case !turn && (f.user != "" || f.pass != ""):
		return nil, usagef("--ice-user and --ice-pass need an --ice-server turn: URL")
	}
	return func(issued []wire.ICEServer) []wire.ICEServer {
		var out []wire.ICEServer
		for _, e := range entries {
			if e.issued {
				out = append(out, issued...)
				continue
			}
			out = append(out, e.server)
		}
		return out
	}, nil
}

// parseICEURL is stun.ParseURI behind a guard: pion/stun v4.0.1 retries a
// URL without a port with ":3478" appended, and recurses until the stack
// overflows when the host part stays unsplittable ("turn:[1]t"), which
// would crash the process on a flag. The guard lets only URLs through whose
// host part splits with a port or with one added.
func parseICEURL(raw string) (*stun.URI, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(u.Opaque); err != nil {
		if _, _, err := net.SplitHostPort(u.Opaque + ":0"); err != nil {
			return nil, err
		}
	}
	return stun.ParseURI(raw)
}

// apply returns the servers a session uses given the issued ones.
func (o iceOverride) apply(issued []wire.ICEServer) []wire.ICEServer {
	if o == nil {
		return issued
	}
	return o(issued)
}
