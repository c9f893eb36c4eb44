package main

import (
	"io"
	"log/slog"
	"os"
)

// defaultLogLevel is --log-level's default: info when stdin is a terminal
// (someone trying the bridge by hand sees it connect), warn otherwise. A
// host starts the bridge with its stdin on a pipe, and records every
// stderr line (Claude Desktop in its log file, VS Code in its Output
// panel, some marking each line as an error): at warn the bridge is quiet
// while all is well, and speaks up when the connection drops, a credential
// would travel in clear text, or a line from the host is refused. Why the
// bridge exits is printed whatever the level.
func defaultLogLevel(stdin io.Reader) slog.Level {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.LevelInfo
		}
	}
	return slog.LevelWarn
}
