package session

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestPionLogs: pion's messages arrive at debug level whatever pion's level,
// traces below debug, and the ICE password pion logs is redacted.
func TestPionLogs(t *testing.T) {
	var buf bytes.Buffer
	l := pionLogs{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("ice")
	l.Errorf("Started agent: remoteUfrag: %q, remotePwd: %q", "abcd", "s3cr3tpassw0rd")
	l.Warn("a warning")
	l.Tracef("packet %d", 1)
	out := buf.String()
	if strings.Contains(out, "s3cr3tpassw0rd") {
		t.Errorf("password logged: %s", out)
	}
	if !strings.Contains(out, "abcd") {
		t.Errorf("ufrag lost: %s", out)
	}
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
		t.Errorf("pion levels above debug leaked: %s", out)
	}
	if strings.Count(out, "level=DEBUG") != 2 || strings.Contains(out, "packet") {
		t.Errorf("want two debug lines and no trace: %s", out)
	}
	if !strings.Contains(out, "pion=ice") || !strings.Contains(out, "level_pion=warn") {
		t.Errorf("scope or pion level missing: %s", out)
	}
}
