package app

import "github.com/direkt/direkt/internal/console"

// Both roles drive the console.
var (
	_ console.Backend = (*Host)(nil)
	_ console.Backend = (*Join)(nil)
)
