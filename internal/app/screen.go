package app

import (
	"context"
	"fmt"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/screen"
	"github.com/direkt/direkt/internal/session"
)

// Screen sharing (docs/screen.md): the consultation carries the control
// messages and decides who may show what; the live consultation's
// screen.Service forwards the pixels between the console page's bridge and
// the session's video transceiver. gateScreen opens the Service's gates
// from the consultation's state after every change, so that no packet of
// our share leaves before the client's consent, while paused or stopped,
// or while the peer does not view, and none of the peer's reaches our page
// while we do not view.

// newScreen makes the live consultation's media forwarder, attached to its
// session's video (none when the peer cannot show a screen).
func (b *base) newScreen(l *live) {
	l.scr = screen.New(screen.Config{Logger: b.log, IncludeLAN: true})
	l.scr.Attach(l.sess.Video())
}

// video is the video of l's session in use (nil: none), which a rebuilt
// connection replaces under b.mu.
func (b *base) video(l *live) *session.Video {
	b.mu.Lock()
	defer b.mu.Unlock()
	return l.sess.Video()
}

// gateScreen sets the forwarder's gates from the consultation's state.
func gateScreen(l *live) {
	sc := l.cons.Screen()
	own, peer := sc.Own, sc.Peer
	l.scr.SetSending(sc.CanShare && own != nil && own.State == consult.ShareOn && own.Viewing)
	l.scr.SetViewing(peer != nil && peer.Viewing)
}

// screenState is the console's view of screen sharing; nil when the
// session has no video (the other side cannot show a screen), so that the
// page offers no bridge. b.mu must be held.
func screenState(l *live, snap consult.Snapshot) *console.Screen {
	v := l.sess.Video()
	if v == nil {
		return nil
	}
	return &console.Screen{CanShare: snap.Screen.CanShare, Own: shareView(snap.Screen.Own), Peer: shareView(snap.Screen.Peer), Bitrate: v.TargetBitrate()}
}

func shareView(s *consult.ScreenShare) *console.ScreenShare {
	if s == nil {
		return nil
	}
	v := &console.ScreenShare{ID: s.ID, State: s.State, What: s.What, W: s.W, H: s.H, Started: s.Started.UTC(), Viewing: s.Viewing}
	if s.Pointer != nil {
		v.Pointer = &console.Point{X: s.Pointer.X, Y: s.Pointer.Y}
	}
	return v
}

// ScreenRTC answers the console page's bridge offer.
func (b *base) ScreenRTC(ctx context.Context, offer string) (string, error) {
	l, err := b.running()
	if err != nil {
		return "", err
	}
	if b.video(l) == nil {
		return "", fmt.Errorf("%w: the other side cannot show or share a screen", ErrNotNow)
	}
	return l.scr.Page(ctx, offer)
}

// Share starts, pauses, resumes or stops our screen share.
func (b *base) Share(action, what string, w, h int) error {
	l, err := b.running()
	if err != nil {
		return err
	}
	switch action {
	case "start":
		if b.video(l) == nil {
			return fmt.Errorf("%w: the other side cannot show a screen", ErrNotNow)
		}
		_, err = l.cons.Share(what, w, h)
	case "pause":
		err = l.cons.PauseShare(true)
	case "resume":
		err = l.cons.PauseShare(false)
	case "stop":
		err = l.cons.StopShare()
	default:
		return fmt.Errorf("unknown screen action %q", action)
	}
	return consultErr(err)
}

// Pointer places or hides the pointer on our share.
func (b *base) Pointer(x, y float64, show bool) error {
	c, err := b.consultation()
	if err != nil {
		return err
	}
	return consultErr(c.Pointer(x, y, show))
}

// View stops or resumes viewing the peer's share.
func (b *base) View(on bool) error {
	c, err := b.consultation()
	if err != nil {
		return err
	}
	return consultErr(c.View(on))
}
