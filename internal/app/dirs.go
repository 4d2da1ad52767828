package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// DataDir is where a peer keeps its records, received files and known peers:
// $DIREKT_DATA if set, else $DIREKT_HOME if set (tests and portable use), else
// the platform's per-user data folder (Linux: $XDG_DATA_HOME or
// ~/.local/share; macOS and Windows: the user configuration folder) + "direkt".
func DataDir(getenv func(string) string) (string, error) {
	if d := getenv("DIREKT_DATA"); d != "" {
		return d, nil
	}
	if d := getenv("DIREKT_HOME"); d != "" {
		return d, nil
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "freebsd" || runtime.GOOS == "openbsd" {
		if d := getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "direkt"), nil
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "direkt"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no data folder (set DIREKT_DATA): %w", err)
	}
	return filepath.Join(d, "direkt"), nil
}
