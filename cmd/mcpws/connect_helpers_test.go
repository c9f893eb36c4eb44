package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/internal/testlog"
)

// bridgeRun is "mcpws connect" running in-process, with pipes for stdin
// and stdout.
type bridgeRun struct {
	t      *testing.T
	stdin  *io.PipeWriter
	lines  chan string
	stderr *testlog.Buffer
	code   chan int
}

// startBridge runs "mcpws connect args...".
func startBridge(t *testing.T, args ...string) *bridgeRun {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	b := &bridgeRun{t: t, stdin: inW, lines: make(chan string, 100), stderr: &testlog.Buffer{}, code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		b.code <- run(ctx, append([]string{"connect"}, args...), inR, outW, b.stderr)
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close() // the stdin reader may still be blocked in a read
		select {
		case <-b.code:
		case <-time.After(10 * time.Second):
			t.Error("the bridge did not stop")
		}
		for range b.lines {
		}
	})
	return b
}

// send writes one line to the bridge's stdin.
func (b *bridgeRun) send(line string) {
	b.t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(b.stdin, line+"\n")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			b.t.Fatalf("writing stdin: %v", err)
		}
	case <-time.After(10 * time.Second):
		// The write stays blocked until the cleanup closes the pipe.
		b.t.Fatalf("the bridge does not read stdin; stderr:\n%s", b.stderr)
	}
}

// recv returns the next line of the bridge's stdout.
func (b *bridgeRun) recv() string {
	b.t.Helper()
	select {
	case line, ok := <-b.lines:
		if !ok {
			b.t.Fatalf("stdout closed; stderr:\n%s", b.stderr)
		}
		return line
	case <-time.After(10 * time.Second):
		b.t.Fatalf("no line on stdout; stderr:\n%s", b.stderr)
	}
	return ""
}

// exit waits for the bridge's exit code; the code is put back for the
// cleanup.
func (b *bridgeRun) exit() int {
	b.t.Helper()
	select {
	case code := <-b.code:
		b.code <- code
		return code
	case <-time.After(15 * time.Second):
		b.t.Fatalf("the bridge did not exit; stderr:\n%s", b.stderr)
	}
	return -1
}

// lastError is the last line of stderr.
func (b *bridgeRun) lastError() string {
	lines := strings.Split(strings.TrimSpace(b.stderr.String()), "\n")
	return lines[len(lines)-1]
}

// frameServer is a WebSocket endpoint that hands each connection (and
// its upgrade request) to serve.
func frameServer(t *testing.T, serve func(r *http.Request, ws *websocket.Conn)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		serve(r, ws)
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

// wsURL is the ws:// form of an httptest server's URL.
func wsURL(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") }
