package integration

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
)

// Behind nginx (which appends the client's address to X-Forwarded-For),
// with chi's ClientIPFromXFFTrustedProxies(1) in front of the endpoint, the
// per-IP upgrade limit gives each client its own bucket: one that exhausts
// its bucket gets 429 while another, through the same proxy, still gets 101.
func TestNginxClientIP(t *testing.T) {
	const perIP = 2
	endpoint := mcpws.New(func(*http.Request) *mcp.Server {
		return mcp.NewServer(&mcp.Implementation{Name: "clientip", Version: "1"}, nil)
	}, &mcpws.Options{UpgradesPerIP: perIP})
	r := chi.NewRouter()
	r.Use(chimw.ClientIPFromXFFTrustedProxies(1))
	endpoint.Mount(r, "/mcp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = endpoint.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	proxy := startNginx(t, ln.Addr().String())

	// upgrade opens a socket from the loopback address src through nginx
	// and returns the status of the upgrade.
	upgrade := func(src string) int {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		tr := &http.Transport{DialContext: d.DialContext}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/mcp", &websocket.DialOptions{
			HTTPClient:   &http.Client{Transport: tr},
			Subprotocols: []string{"mcp"},
		})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial from %s: %v", src, err)
			}
			return resp.StatusCode
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
		return resp.StatusCode
	}

	for i, tt := range []struct {
		src  string
		want int
	}{
		{"127.0.0.2", http.StatusSwitchingProtocols},
		{"127.0.0.2", http.StatusSwitchingProtocols},
		{"127.0.0.2", http.StatusTooManyRequests}, // its bucket of perIP is empty
		{"127.0.0.3", http.StatusSwitchingProtocols},
		{"127.0.0.3", http.StatusSwitchingProtocols},
		{"127.0.0.3", http.StatusTooManyRequests},
	} {
		if got := upgrade(tt.src); got != tt.want {
			t.Errorf("upgrade %d from %s through nginx: %d, want %d", i, tt.src, got, tt.want)
		}
	}
}
