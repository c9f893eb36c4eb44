package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/wsmcp"
)

// --token-cmd on a redial has --token-timeout, not the handshake's write
// timeout: a command slower than the write timeout still gets its token
// through.
func TestConnectTokenCmdRedialTimeout(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		first := len(auths) == 1
		mu.Unlock()
		if first {
			// The one close a token refresh answers.
			ws.Close(websocket.StatusPolicyViolation, wsmcp.ReasonTokenExpired)
			return
		}
		_, _, _ = ws.Read(r.Context())
	})
	// The first run is quick, every later one takes 600 ms: three times
	// the write timeout below, well within --token-timeout.
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := `if [ -e ` + marker + ` ]; then sleep 0.6; echo tok2; else : > ` + marker + `; echo tok1; fi`
	cfg, code := parseConnect([]string{"--token-cmd", cmd, "--token-timeout", "10s", url}, io.Discard)
	if cfg == nil {
		t.Fatalf("parseConnect: exit %d", code)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	tr, err := cfg.transport(logger)
	if err != nil {
		t.Fatal(err)
	}
	tr.WriteTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- bridge(ctx, tr, cfg, inR, io.Discard, logs, logger) }()
	defer func() {
		cancel()
		inW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the bridge did not stop")
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), auths...)
		mu.Unlock()
		if len(got) >= 2 {
			if got[0] != "Bearer tok1" || got[1] != "Bearer tok2" {
				t.Errorf("handshakes carried %q, want tok1 then tok2", got)
			}
			return
		}
		select {
		case c := <-done:
			done <- c
			t.Fatalf("the bridge exited %d after %d handshakes; log:\n%s", c, len(got), logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes, want a redial with tok2; log:\n%s", len(got), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
