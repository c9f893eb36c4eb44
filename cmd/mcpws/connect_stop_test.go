package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/internal/testlog"
)

// SIGTERM (the end of run's context) stops a bridge whose stdout is not
// read, with a message from the server stuck in the write.
func TestConnectStopsWithStdoutBlocked(t *testing.T) {
	url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		_ = ws.Write(r.Context(), websocket.MessageText, []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{}}`))
		_, _, _ = ws.Read(r.Context())
	})
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	defer outW.Close()
	// Fill the pipe, so that the bridge's first write blocks: a write into
	// a pipe with room returns at once, so the first one that waits out its
	// deadline found it full.
	for {
		if err := outW.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := outW.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	_ = outW.SetWriteDeadline(time.Time{})
	inR, inW := io.Pipe()
	defer inW.Close()
	logs := &testlog.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"connect", "--log-level", "debug", url}, inR, outW, logs) }()
	// Connected, and the server's message on its way to stdout.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "connected") {
		if time.Now().After(deadline) {
			t.Fatalf("not connected; log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // what SIGTERM does in main
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		// Unblock it, so that the test ends.
		outR.Close()
		t.Fatalf("the bridge did not stop with stdout blocked; log:\n%s", logs)
	}
	// Let the writer that was left blocked go, for goleak.
	outR.Close()
}
