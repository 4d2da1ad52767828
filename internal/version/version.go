// Package version is direkt's version, set at build time with
// -ldflags "-X github.com/direkt/direkt/internal/version.Version=v1.2.3".
//
// version is a leaf: it imports nothing.
package version

// Version is "dev" unless the build sets it.
var Version = "dev"
