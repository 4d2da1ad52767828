package record

import (
	"fmt"
	"os"
	"strings"
	"time"

	// Records are rendered in the host's zone; Windows has no zone
	// database of its own, so the binary carries one.
	_ "time/tzdata"
)

// LocalTimeZone names this machine's time zone for Record.TimeZone: its
// IANA name where it can be found ($TZ, /etc/localtime), else its present
// offset as "UTC+01:00".
func LocalTimeZone() string {
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			return "UTC"
		}
		if validZone(tz) {
			if _, err := time.LoadLocation(tz); err == nil {
				return tz
			}
		}
	}
	if link, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(link, "zoneinfo/"); ok && validZone(name) {
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	_, off := time.Now().Zone()
	return offsetName(off)
}

// offsetName writes a fixed offset in seconds as "UTC+01:00".
func offsetName(off int) string {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off/60%60)
}

// validZone reports whether tz may be a Record.TimeZone: empty, or up to
// 64 characters of an IANA name or a fixed offset. Whether the name is known
// is checked only when rendering.
func validZone(tz string) bool {
	if len(tz) > 64 || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return false
	}
	for _, c := range tz {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+-:", c)) {
			return false
		}
	}
	return true
}

// location resolves a Record.TimeZone for rendering, falling back to UTC
// for an empty or unknown zone.
func location(tz string) *time.Location {
	if tz == "" || tz == "UTC" {
		return time.UTC
	}
	if rest, ok := strings.CutPrefix(tz, "UTC"); ok && len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' {
		var h, m int
		if _, err := fmt.Sscanf(rest[1:], "%02d:%02d", &h, &m); err == nil && h <= 14 && m < 60 {
			off := h*3600 + m*60
			if rest[0] == '-' {
				off = -off
			}
			return time.FixedZone(tz, off)
		}
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		return loc
	}
	return time.UTC
}
