//go:build linux

package main

import (
	"context"
	"syscall"
	"testing"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/internal/proctest"
)

// A helper that a process starts in a session of its own (setsid, as
// Node's detached spawn does) leaves the process group, but not the
// gateway: it is gone by the time its session's process is logged as
// stopped, and when the gateway exits with a session open.
func TestServeDetachedHelpersReaped(t *testing.T) {
	g := startGateway(t, "-kill-grace", "2s", "-max-children", "2", "--", "/bin/sh", "-c",
		`setsid sleep 300 </dev/null >/dev/null 2>&1 & echo helper=$! >&2; exec cat`)
	var helpers []int
	t.Cleanup(func() {
		for _, pid := range helpers {
			if proctest.Comm(pid) == "sleep" {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	const sessions = 5
	for i := 1; i <= sessions+1; i++ {
		ws := dial(t, g.url(), "")
		// A notification: no call in flight holds the drain up at exit.
		send(t, ws, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		helper := logPid(t, g.waitLogN(t, i, "child stderr", "helper=")[i-1], "helper")
		helpers = append(helpers, helper)
		if i > sessions {
			// The last session stays open while the gateway exits; its
			// client reads, as a live one does, so that the gateway's close
			// handshake is answered rather than waited out (5 s).
			go func() {
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
			break
		}
		ws.Close(websocket.StatusNormalClosure, "")
		g.waitLogN(t, i, "process stopped")
		if st := proctest.State(helper); st != "" {
			t.Errorf("session %d: its helper %d is still there (state %s) after its process was stopped", i, helper, st)
		}
	}
	g.stop()
	if st := proctest.State(helpers[sessions]); st != "" {
		t.Errorf("the open session's helper %d is still there (state %s) after the gateway exited", helpers[sessions], st)
	}
}
