package wire

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
)

// Checks of mailbox frames (docs/protocol.md, section 3), shared by the
// rendezvous server (frames from clients) and its clients (frames from the
// server). Unknown JSON fields are ignored; unknown types are an error.

const (
	// MailboxIDSize is the size of a mailbox id, which is also CPace's sid.
	MailboxIDSize = 16
	// MaxNameplateLen bounds a nameplate's decimal digits.
	MaxNameplateLen = 10
	// MaxText bounds free text from the server (motd, error message).
	MaxText = 1024
	// MaxICEServers bounds the ICE servers of a "paired" frame.
	MaxICEServers = 16
	// MaxURL bounds one STUN/TURN URL, username or credential.
	MaxURL = 512
)

// ParseFrame decodes one mailbox frame (a WebSocket text message) and checks
// it: at most MaxFrame bytes (ErrTooLarge), valid JSON (ErrMalformed), a
// known type (ErrUnknownType) and the fields that type requires
// (ErrMalformed, or ErrTooLarge for a body over MaxBody).
func ParseFrame(data []byte) (Frame, error) {
	if len(data) > MaxFrame {
		return Frame{}, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, len(data))
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("%w: frame json: %v", ErrMalformed, err)
	}
	if err := f.Validate(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// Marshal validates f and returns its JSON encoding, refusing frames over
// MaxFrame.
func (f Frame) Marshal() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("wire: encode frame: %w", err)
	}
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, len(b))
	}
	return b, nil
}

// Validate checks the fields f's type requires; fields of other types are
// not looked at.
func (f Frame) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s frame: %s", ErrMalformed, f.Type, fmt.Sprintf(format, a...))
	}
	switch f.Type {
	case TypeAllocate:
	case TypeReopen:
		if len(f.Mailbox) != MailboxIDSize {
			return bad("mailbox of %d bytes", len(f.Mailbox))
		}
		if len(f.Token) != ReopenTokenSize {
			return bad("token of %d bytes", len(f.Token))
		}
		if f.Received < 0 || f.Received > MaxBodiesPerSide {
			return bad("received %d", f.Received)
		}
	case TypeReopened:
		if f.Received < 0 || f.Received > MaxBodiesPerSide {
			return bad("received %d", f.Received)
		}
	case TypeClaim:
		if !validNameplate(f.Nameplate) {
			return bad("nameplate %q", f.Nameplate)
		}
	case TypeAdd, TypeMessage:
		if len(f.Body) > MaxBody {
			return fmt.Errorf("%w: body of %d bytes", ErrTooLarge, len(f.Body))
		}
		if len(f.Body) == 0 {
			return bad("empty body")
		}
	case TypeClose:
		switch f.Mood {
		case MoodHappy, MoodScary, MoodLonely, MoodErrory:
		default:
			return bad("mood %q", f.Mood)
		}
	case TypeListen:
		if len(f.Channels) > MaxListenChannels {
			return fmt.Errorf("%w: listen frame with %d channels (max %d)", ErrTooLarge, len(f.Channels), MaxListenChannels)
		}
		seen := make(map[string]struct{}, len(f.Channels))
		for _, ch := range f.Channels {
			if !ValidChannel(ch) {
				return bad("channel %.80q", ch)
			}
			if _, dup := seen[ch]; dup {
				return bad("channel listed twice")
			}
			seen[ch] = struct{}{}
		}
	case TypeDial:
		if !ValidChannel(f.Channel) {
			return bad("channel %.80q", f.Channel)
		}
	case TypeAnswer, TypeHangup:
		if len(f.Ring) != RingIDSize {
			return bad("ring of %d bytes", len(f.Ring))
		}
	case TypeListening:
	case TypeRing:
		if !ValidChannel(f.Channel) {
			return bad("channel %.80q", f.Channel)
		}
		if len(f.Ring) != RingIDSize {
			return bad("ring of %d bytes", len(f.Ring))
		}
	case TypeAnswered, TypeDialed:
		if len(f.Mailbox) != MailboxIDSize {
			return bad("mailbox of %d bytes", len(f.Mailbox))
		}
	case TypeWelcome:
		if len(f.MOTD) > MaxText || !validText(f.MOTD) {
			return bad("motd")
		}
	case TypeAllocated:
		if !validNameplate(f.Nameplate) {
			return bad("nameplate %q", f.Nameplate)
		}
		if len(f.Mailbox) != MailboxIDSize {
			return bad("mailbox of %d bytes", len(f.Mailbox))
		}
	case TypeClaimed:
		if len(f.Mailbox) != MailboxIDSize {
			return bad("mailbox of %d bytes", len(f.Mailbox))
		}
	case TypePaired:
		if len(f.ICEServers) > MaxICEServers {
			return bad("%d ice servers", len(f.ICEServers))
		}
		for _, s := range f.ICEServers {
			if len(s.URLs) == 0 || len(s.URLs) > MaxICEServers {
				return bad("ice server with %d urls", len(s.URLs))
			}
			for _, u := range s.URLs {
				if u == "" || len(u) > MaxURL || !printableASCII(u) || !iceURLHostOK(u) {
					return bad("ice server url")
				}
			}
			if len(s.Username) > MaxURL || len(s.Credential) > MaxURL ||
				!printableASCII(s.Username) || !printableASCII(s.Credential) {
				return bad("ice server credentials")
			}
		}
		if f.TTL < 0 {
			return bad("ttl %d", f.TTL)
		}
		if f.Token != nil && len(f.Token) != ReopenTokenSize {
			return bad("token of %d bytes", len(f.Token))
		}
	case TypeClosed:
		switch f.Mood {
		case MoodHappy, MoodScary, MoodLonely, MoodErrory, MoodExpired:
		default:
			return bad("mood %q", f.Mood)
		}
	case TypeError:
		if f.Kind == "" || len(f.Kind) > 64 || !printableASCII(f.Kind) {
			return bad("kind %q", f.Kind)
		}
		if len(f.Message) > MaxText || !validText(f.Message) {
			return bad("message")
		}
	default:
		return fmt.Errorf("%w: mailbox frame type %q", ErrUnknownType, f.Type)
	}
	return nil
}

// validNameplate reports whether s is a decimal number without a leading
// zero (docs/protocol.md, section 2).
func validNameplate(s string) bool {
	if s == "" || len(s) > MaxNameplateLen || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// iceURLHostOK reports whether the host part of a stun:/turn: URL (RFC 7064,
// RFC 7065) splits into host and port, as given or with a port added. pion's
// URL parser (pion/stun v4.0.1) retries a URL without a port with one
// appended and recurses until the stack overflows when that does not help
// ("stun:[1]t"): a rendezvous must not be able to crash a peer that way.
func iceURLHostOK(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque == "" {
		return false
	}
	if _, _, err := net.SplitHostPort(u.Opaque); err == nil {
		return true
	}
	_, _, err = net.SplitHostPort(u.Opaque + ":0")
	return err == nil
}
