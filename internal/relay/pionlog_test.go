package relay_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/direkt/direkt/internal/relay"
)

func TestPionLogger(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := relay.NewPionLogger(l).NewLogger("ice")
	p.Trace("trace")
	p.Tracef("tracef %d", 1)
	p.Debug("debug")
	p.Debugf("debugf %d", 1)
	p.Info("info")
	p.Infof("infof %d", 1)
	if buf.Len() != 0 {
		t.Fatalf("pion below warn reached an Info handler: %s", buf.String())
	}
	p.Warnf("warnf %d", 7)
	p.Error("error")
	out := buf.String()
	for _, want := range []string{"level=WARN msg=\"warnf 7\" pion=ice", "level=WARN msg=error pion=ice"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}

	buf.Reset()
	l = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	relay.NewPionLogger(l).NewLogger("turn").Infof("x=%s", "y")
	if !strings.Contains(buf.String(), `level=DEBUG msg="x=y" pion=turn`) {
		t.Errorf("pion info at debug level: %q", buf.String())
	}
}
