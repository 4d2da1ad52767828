package session

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/pion/logging"
)

// levelTrace is below slog.LevelDebug: pion's trace output (every packet)
// only appears when a handler is configured that low.
const levelTrace = slog.LevelDebug - 4

// pionLogs routes pion's leveled loggers into slog. Everything pion says is
// logged at debug level (trace below it), with pion's own level as an
// attribute: pion's warnings are routine for us (a TURN server that does not
// answer, a candidate that cannot be parsed) and must not reach a user's
// terminal as warnings.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level slog.Level, pionLevel string, msg string) {
	l.log.Log(context.Background(), level, redact(msg), "level_pion", pionLevel)
}

// secretRE matches the ICE password pion's ICE agent logs when it starts
// ("remotePwd: \"...\""). Short-lived, but a credential all the same; our
// logs carry no keys.
var secretRE = regexp.MustCompile(`(?i)(pwd|password)(["']?\s*[:=]\s*)"[^"]*"`)

func redact(msg string) string {
	if !strings.Contains(msg, "wd") && !strings.Contains(msg, "WD") && !strings.Contains(msg, "ssword") {
		return msg
	}
	return secretRE.ReplaceAllString(msg, `$1$2"…"`)
}

func (l pionLogger) emitf(level slog.Level, pionLevel string, format string, args ...any) {
	// Formatting costs allocations on hot paths (SCTP traces): skip it
	// unless someone listens.
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.emit(level, pionLevel, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string) {
	if l.log.Enabled(context.Background(), levelTrace) {
		l.emit(levelTrace, "trace", msg)
	}
}
func (l pionLogger) Tracef(format string, args ...any) { l.emitf(levelTrace, "trace", format, args...) }
func (l pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, "debug", msg) }
func (l pionLogger) Debugf(format string, args ...any) {
	l.emitf(slog.LevelDebug, "debug", format, args...)
}
func (l pionLogger) Info(msg string) { l.emit(slog.LevelDebug, "info", msg) }
func (l pionLogger) Infof(format string, args ...any) {
	l.emitf(slog.LevelDebug, "info", format, args...)
}
func (l pionLogger) Warn(msg string) { l.emit(slog.LevelDebug, "warn", msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.emitf(slog.LevelDebug, "warn", format, args...)
}
func (l pionLogger) Error(msg string) { l.emit(slog.LevelDebug, "error", msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.emitf(slog.LevelDebug, "error", format, args...)
}
