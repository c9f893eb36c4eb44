//go:build linux

package main

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/coder/websocket"
)

// startedPid returns the pid of the process the gateway logged as started.
func startedPid(t *testing.T, g *gatewayProc) int {
	t.Helper()
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(g.waitLog(t, "process started"))
	if m == nil {
		t.Fatalf("no pid in the log:\n%s", g.log)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// stdinQueued reports how many bytes wait unread in process pid's stdin pipe.
func stdinQueued(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/fd/0", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("opening the child's stdin: %v", err)
	}
	defer f.Close()
	var n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("FIONREAD: %v", e)
	}
	return int(n)
}

// A client that leaves while the process has stopped reading its stdin,
// with the pipe full, still ends the session: the process is stopped.
func TestServeClientLeavesChildNotReading(t *testing.T) {
	g := startGateway(t, "-kill-grace", "200ms", "--", "/bin/sleep", "60")
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	pid := startedPid(t, g)
	pad := strings.Repeat("x", 4000)
	// A pipe is 16 pages of 4 KiB; a write of a message under a page takes
	// a page of its own: the initialize message and 15 of these fill it.
	const pipeFull = 60000
	deadline := time.Now().Add(10 * time.Second)
	for sent := 0; stdinQueued(t, pid) < pipeFull; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("the child's stdin pipe holds %d bytes after %d messages; want it full", stdinQueued(t, pid), sent)
		}
		if sent < 40 { // 160 KB: more than the pipe holds
			send(t, ws, `{"jsonrpc":"2.0","method":"notifications/x","params":{"p":"`+pad+`"}}`)
		} else {
			time.Sleep(10 * time.Millisecond) // waiting for the relay to fill the pipe
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	g.waitLog(t, "process stopped", "pid="+strconv.Itoa(pid))
}

// A client that goes on sending to a process that does not read its stdin
// has its session closed with 1011 once the backlog is over its bound.
func TestServeChildNotReadingBacklog(t *testing.T) {
	const maxStdinBacklog = 1 << 20 // the gateway's bound
	g := startGateway(t, "-kill-grace", "200ms", "--", "/bin/sleep", "60")
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	pid := startedPid(t, g)
	msg := []byte(`{"jsonrpc":"2.0","method":"notifications/x","params":{"p":"` + strings.Repeat("x", 4000) + `"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		// More than the pipe and the backlog hold; the reads below see the close.
		for range 2 * maxStdinBacklog / len(msg) {
			if ws.Write(ctx, websocket.MessageText, msg) != nil {
				return
			}
		}
	}()
	ce := readClose(t, ws)
	if ce.Code != websocket.StatusInternalError || ce.Reason != reasonChildStuck {
		t.Errorf("close %d %q; want 1011 %q", ce.Code, ce.Reason, reasonChildStuck)
	}
	g.waitLog(t, "process ended the session", "pid="+strconv.Itoa(pid))
}

// A process whose stdout line never ends has its session closed with 1011
// as soon as the line is over the limit.
func TestServeChildEndlessLine(t *testing.T) {
	g := startGateway(t, "-kill-grace", "200ms", "-max-message-bytes", "1024", "--", "/bin/sh", "-c", `read l; tr -d '\n' < /dev/zero`)
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	ce := readClose(t, ws)
	if ce.Code != websocket.StatusInternalError || ce.Reason != reasonChildTooBig {
		t.Errorf("close %d %q; want 1011 %q", ce.Code, ce.Reason, reasonChildTooBig)
	}
	g.waitLog(t, "process ended the session")
}

// A process that left a detached descendant holding its stderr still frees
// its place once it is reaped.
func TestServeDetachedStderrHolder(t *testing.T) {
	g := startGateway(t, "-kill-grace", "200ms", "--", "/bin/sh", "-c",
		`setsid sleep 60 </dev/null >/dev/null & echo holder=$! >&2; exec cat`)
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	m := regexp.MustCompile(`holder=(\d+)`).FindStringSubmatch(g.waitLog(t, "child stderr", "holder="))
	holder, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { _ = syscall.Kill(holder, syscall.SIGKILL) })
	ws.Close(websocket.StatusNormalClosure, "")
	g.waitLog(t, "process stopped")
}

// -idle-timeout and -max-lifetime end a session, and so stop its process.
func TestServeSessionTimeouts(t *testing.T) {
	tests := []struct {
		flag   string
		code   websocket.StatusCode
		reason string
	}{
		{"-idle-timeout", websocket.StatusNormalClosure, "idle timeout"},
		{"-max-lifetime", websocket.StatusGoingAway, "connection lifetime reached"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			g := startGateway(t, "-kill-grace", "200ms", tt.flag, "300ms", "--", "/bin/cat")
			ws := dial(t, g.url(), "")
			send(t, ws, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			pid := startedPid(t, g)
			ce := readClose(t, ws)
			if ce.Code != tt.code || ce.Reason != tt.reason {
				t.Errorf("close %d %q; want %d %q", ce.Code, ce.Reason, tt.code, tt.reason)
			}
			g.waitLog(t, "process stopped", "pid="+strconv.Itoa(pid))
		})
	}
}

// A claim with a control character is not passed to a process: the upgrade
// is refused with 403 and nothing starts.
func TestServeClaimControlCharacter(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	g := startGateway(t, "-audience", testAudience, "-env-from-claim", "MCP_USER=sub", "--", "/bin/cat")
	for _, sub := range []string{"alice\nMCP_ADMIN=1", "alice\x00", "alice\x7f", "alice\x1b[2J"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, resp, err := websocket.Dial(ctx, g.url(), &websocket.DialOptions{Subprotocols: []string{"mcp"},
			HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, sub)}}})
		cancel()
		if err == nil {
			ws.CloseNow()
			t.Errorf("sub %q: upgraded; want 403", sub)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("sub %q: %v; want 403", sub, err)
		}
	}
	// A plain one still works.
	ws := dial(t, g.url(), token(t, "alice"))
	send(t, ws, initialize)
	g.waitLog(t, "process started")
}

// A process's stderr is logged at a bounded rate; what is dropped is
// counted in a summary line.
func TestServeStderrBounded(t *testing.T) {
	g := startGateway(t, "-kill-grace", "200ms", "--", "/bin/sh", "-c", `read l; seq 1 5000 >&2; exec cat`)
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	g.waitLog(t, "process started")
	ws.Close(websocket.StatusNormalClosure, "")
	g.waitLog(t, "process stopped")
	logged, suppressed := 0, 0
	for line := range strings.Lines(g.log.String()) {
		if strings.Contains(line, "child stderr") && strings.Contains(line, "line=") {
			logged++
		}
		if m := regexp.MustCompile(`child stderr lines suppressed.* count=(\d+)`).FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			suppressed += n
		}
	}
	if logged+suppressed != 5000 || suppressed == 0 {
		t.Errorf("%d stderr lines logged, %d suppressed; want 5000 in all, some suppressed", logged, suppressed)
	}
}
