//go:build linux

package main

import (
	"os"
	"syscall"
	"testing"
)

// A process cannot read the gateway's environment (JWT_SECRET) from /proc.
// As root this is skipped: root reads any process's /proc entries, dumpable
// or not.
func TestServeChildCannotReadGatewayEnviron(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root the child can read any /proc entry, dumpable or not")
	}
	g := startGateway(t, "-kill-grace", "200ms", "--", "/bin/sh", "-c",
		`read l; if (exec 3</proc/$PPID/environ) 2>/dev/null; then echo environ-readable >&2; else echo environ-refused >&2; fi; exec cat`)
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	line := g.waitLog(t, "child stderr", "environ-")
	if !allIn(line, []string{"environ-refused"}) {
		t.Errorf("the process read /proc/<gateway>/environ: %s", line)
	}
}

// serve marks the gateway not dumpable (the protection above, which holds
// for every user but root).
func TestServeNotDumpable(t *testing.T) {
	startGateway(t, "-kill-grace", "200ms", "--", "/bin/cat")
	const prGetDumpable = 3
	r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if e != 0 || r != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, %v; want 0", r, e)
	}
}
