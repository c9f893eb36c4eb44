package main

import (
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// The default level is warn when stdin is a pipe (a host), info when it is
// a character device, as a terminal is.
func TestDefaultLogLevel(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := defaultLogLevel(r); got != slog.LevelWarn {
		t.Errorf("stdin on a pipe: %v, want WARN", got)
	}
	if got := defaultLogLevel(strings.NewReader("")); got != slog.LevelWarn {
		t.Errorf("stdin not a file: %v, want WARN", got)
	}
	dev, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if got := defaultLogLevel(dev); got != slog.LevelInfo {
		t.Errorf("stdin on a character device: %v, want INFO", got)
	}
}

// Under a host (stdin a pipe) the bridge logs nothing while all goes well;
// --log-level info brings back the connected line.
func TestConnectQuietUnderHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		connected bool
	}{
		{nil, false},
		{[]string{"--log-level", "info"}, true},
	} {
		url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
			for {
				_, data, err := ws.Read(r.Context())
				if err != nil {
					return
				}
				reply := strings.Replace(string(data), `"method":"ping"`, `"result":{}`, 1)
				if ws.Write(r.Context(), websocket.MessageText, []byte(reply)) != nil {
					return
				}
			}
		})
		b := startBridge(t, append(tc.args, url)...)
		b.send(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
		if got := b.recv(); got != `{"jsonrpc":"2.0","id":1,"result":{}}` {
			t.Fatalf("ping answered with %s", got)
		}
		b.stdin.Close()
		if code := b.exit(); code != 0 {
			t.Errorf("%q: exit %d; stderr:\n%s", tc.args, code, b.stderr)
		}
		logs := b.stderr.String()
		if got := strings.Contains(logs, "mcpws connect: connected"); got != tc.connected {
			t.Errorf("%q: the connected line logged: %v, want %v; stderr:\n%s", tc.args, got, tc.connected, logs)
		}
		if !tc.connected && logs != "" {
			t.Errorf("%q: stderr under a host, all well:\n%s\nwant nothing", tc.args, logs)
		}
	}
}
