//go:build linux

package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/internal/proctest"
)

// waitLogN waits (up to 10 s) until n log lines contain all of parts, and
// returns them.
func (g *gatewayProc) waitLogN(t *testing.T, n int, parts ...string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []string
		for line := range strings.Lines(g.log.String()) {
			if allIn(line, parts) {
				found = append(found, line)
			}
		}
		if len(found) >= n {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines with %q, want %d:\n%s", len(found), parts, n, g.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logPid returns the number after "name=" in line.
func logPid(t *testing.T, line, name string) int {
	t.Helper()
	m := regexp.MustCompile(name + `=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s= in %q", name, line)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// dialStatus opens a socket as sub and returns it, or nil, with the
// handshake's HTTP status.
func dialStatus(t *testing.T, url, sub string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, sub)}}})
	if resp == nil {
		t.Fatalf("dial as %s: %v", sub, err)
	}
	if ws != nil {
		t.Cleanup(func() { ws.CloseNow() })
	}
	return ws, resp.StatusCode
}

// A process that lingers after its session ended (it does not exit when
// its stdin closes, nor on SIGTERM) no longer counts against its caller's
// -max-children-per-user, only against -max-children: one-shot sessions
// in a row are all served, and the total still bounds them.
func TestServeLingeringNotPerUser(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	g := startGateway(t, "-audience", testAudience, "-kill-grace", "5s",
		"-max-children", "5", "-max-children-per-user", "2", "--",
		"/bin/sh", "-c", `trap "" TERM; cat >/dev/null; exec sleep 30`)
	// The children ignore SIGTERM: once the test is done they are killed
	// here, each with its process group, so that the gateway's exit does
	// not wait out their kill grace.
	var pids []int
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	const oneShots = 3
	for i := 1; i <= oneShots; i++ {
		ws, status := dialStatus(t, g.url(), "alice")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("one-shot session %d: status %d, want 101", i, status)
		}
		send(t, ws, initialize)
		pid := logPid(t, g.waitLogN(t, i, "process started")[i-1], "pid")
		pids = append(pids, pid)
		ws.Close(websocket.StatusNormalClosure, "")
		// Its stdin closed: the process went on to sleep, lingering.
		deadline := time.Now().Add(10 * time.Second)
		for proctest.Comm(pid) != "sleep" {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of session %d is %q, want it lingering in sleep", pid, i, proctest.Comm(pid))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Two live sessions: alice's share is full, and so is the total.
	for i := 1; i <= 2; i++ {
		ws, status := dialStatus(t, g.url(), "alice")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("live session %d: status %d, want 101", i, status)
		}
		send(t, ws, initialize)
		pids = append(pids, logPid(t, g.waitLogN(t, oneShots+i, "process started")[oneShots+i-1], "pid"))
	}
	for _, tt := range []struct {
		sub    string
		status int
	}{{"alice", http.StatusTooManyRequests}, {"bob", http.StatusServiceUnavailable}} {
		if _, status := dialStatus(t, g.url(), tt.sub); status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.sub, status, tt.status)
		}
	}
}
