package app

import (
	"context"
	"errors"
)

// errNoScreen answers the console's screen actions until screen sharing
// (docs/screen.md) is wired to internal/screen and internal/consult.
var errNoScreen = errors.New("screen sharing is not available yet")

// ScreenRTC answers the console page's bridge offer: not yet.
func (b *base) ScreenRTC(context.Context, string) (string, error) { return "", errNoScreen }

// Share starts, pauses, resumes or stops our screen share: not yet.
func (b *base) Share(string, string, int, int) error { return errNoScreen }

// Pointer places or hides the pointer on our share: not yet.
func (b *base) Pointer(float64, float64, bool) error { return errNoScreen }

// View stops or resumes viewing the peer's share: not yet.
func (b *base) View(bool) error { return errNoScreen }
