package screen

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestPageRefuses checks the offers Page refuses, and Page after Close.
func TestPageRefuses(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc := New(Config{Logger: testLogger()})
	for _, c := range []struct {
		name, sdp string
		want      error
	}{
		{"too large", "m=video " + strings.Repeat("a", MaxSDP), ErrTooLarge},
		{"no video", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", ErrOffer},
		{"not SDP", "m=video nonsense", ErrOffer},
		{"no VP8", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 00:11\r\na=group:BUNDLE 0\r\n" +
			"m=video 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
			"a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:98 VP9/90000\r\n", ErrOffer},
	} {
		if _, err := svc.Page(ctx, c.sdp); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Page(ctx, "m=video 9"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after Close: %v, want net.ErrClosed", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}
