package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// NewPionLogger adapts l to pion's logging.LoggerFactory, so that pion/turn,
// pion/ice and pion/webrtc log through slog with a "pion" attribute naming
// the pion scope. A nil l means slog.Default().
//
// pion's levels describe the library's view, not direkt's: its trace, debug
// and info messages (state changes, "no permission for peer", per-packet
// chatter, some of which a remote party can trigger at will) all become slog
// Debug, and its warnings and errors become slog Warn, because direkt reports
// what actually fails for the user through its own errors. A default slog
// handler (level Info) therefore shows only pion's warnings and errors.
func NewPionLogger(l *slog.Logger) logging.LoggerFactory {
	if l == nil {
		l = slog.Default()
	}
	return pionFactory{l: l}
}

type pionFactory struct{ l *slog.Logger }

func (f pionFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{l: f.l.With("pion", scope)}
}

// pionLogger implements logging.LeveledLogger. It checks Enabled before
// formatting, so suppressed debug output costs no Sprintf.
type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (p pionLogger) Trace(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelWarn, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelWarn, format, args...) }
