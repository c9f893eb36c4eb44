//go:build linux

package integration

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// helperPids waits (up to 10 s) until the gateway has logged n helper pids
// ("helper=PID" on a process's stderr), and returns them.
func helperPids(t *testing.T, p *proc, n int) []int {
	t.Helper()
	re := regexp.MustCompile(`helper=(\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int
		for _, m := range re.FindAllStringSubmatch(p.Logs(), -1) {
			pid, _ := strconv.Atoi(m[1])
			pids = append(pids, pid)
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d helper pids logged, want %d:\n%s", len(pids), n, p.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sleeping reports whether process pid is a live (not zombie) sleep.
func sleeping(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return strings.Contains(s, "(sleep)") && strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0] != "Z"
}

// TestGatewayDetachedHelpers runs sessions whose process starts a helper
// in a session of its own (setsid, as Node's detached spawn does), which
// leaves the process group: with -max-children 2, five sessions one after
// another, then a sixth left open while the gateway exits on SIGTERM. No
// helper survives.
func TestGatewayDetachedHelpers(t *testing.T) {
	p := startGateway(t, nil, "-kill-grace", "1s", "-max-children", "2", "--", "/bin/sh", "-c",
		`setsid sleep 300 </dev/null >/dev/null 2>&1 & echo helper=$! >&2; exec cat`)
	var helpers []int
	t.Cleanup(func() {
		for _, pid := range helpers {
			if sleeping(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	url := "ws://" + p.addr + "/mcp"
	for i := 1; i <= 6; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			cancel()
			t.Fatalf("session %d: %v\n%s", i, err, p.Logs())
		}
		// A notification: nothing in flight holds the drain up at exit.
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
			t.Fatal(err)
		}
		helpers = helperPids(t, p, i)
		if i < 6 {
			ws.Close(websocket.StatusNormalClosure, "")
			waitNoChildren(t, p.cmd.Process.Pid)
		} else {
			defer ws.CloseNow()
		}
		cancel()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range helpers {
		for sleeping(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	var alive []int
	for _, pid := range helpers {
		if sleeping(pid) {
			alive = append(alive, pid)
		}
	}
	if len(alive) > 0 {
		t.Errorf("helpers %v of %v still alive after the sessions ended and the gateway exited\n%s", alive, helpers, p.Logs())
	}
}
