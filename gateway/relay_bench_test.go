//go:build linux

package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mcpws/mcpws/wsmcp"
)

// BenchmarkRelay measures the gateway's relay of one message each way:
// a notification from the client to /bin/cat, which echoes it, and back
// from the process to the client. Messages are pipelined (a writer and a
// reader at once, at most 8 messages apart: the gateway bounds what a
// process has not read yet), so that the figure is the relay's cost
// rather than a round trip's latency. The transport's message and byte
// rates are off.
func BenchmarkRelay(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := New(&Options{Command: []string{"/bin/cat"}, KillGrace: 200 * time.Millisecond, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	h := wsmcp.NewConnHandler(g.Session, &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{Logger: logger}, MessageRate: -1, ByteRate: -1, Hooks: g.Hooks()})
	ts := httptest.NewServer(h)
	defer func() {
		ts.Close()
		_ = h.Shutdown(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	}()
	for _, size := range []struct {
		name  string
		bytes int
	}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"mcp"}})
			if err != nil {
				b.Fatal(err)
			}
			defer ws.CloseNow()
			ws.SetReadLimit(1 << 20)
			msg := []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"` +
				strings.Repeat("x", size.bytes) + `"}}`)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			errc := make(chan error, 1)
			window := make(chan struct{}, 8)
			go func() {
				for range b.N {
					window <- struct{}{}
					if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for range b.N {
				if _, _, err := ws.Read(ctx); err != nil {
					b.Fatal(err)
				}
				<-window
			}
			b.StopTimer()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			ws.Close(websocket.StatusNormalClosure, "")
		})
	}
}
