package mcpws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/wsmcp"
)

// served is an endpoint running under Endpoint.Serve on a loopback port,
// with a tool "gate" that runs until release is closed (or it is
// cancelled), a REST route /slow that does the same, and /readyz.
type served struct {
	addr    string
	started chan string   // "gate" or "slow", when one starts
	release chan struct{} // close to let them finish
	cancel  context.CancelFunc
	done    chan struct{} // closed when Serve returns
	err     error         // what it returned
}

func startServe(t *testing.T, opts *mcpws.Options) *served {
	t.Helper()
	s := &served{started: make(chan string, 8), release: make(chan struct{}), done: make(chan struct{})}
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "gate"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		s.started <- "gate"
		select {
		case <-s.release:
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	})
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, opts)
	mux := http.NewServeMux()
	endpoint.Mount(mux, "/mcp")
	mux.Handle("GET /readyz", endpoint.Ready())
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		s.started <- "slow"
		select {
		case <-s.release:
			w.Write([]byte("finished"))
		case <-r.Context().Done():
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.err = endpoint.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return s
}

// get returns the status of GET path, or 0 if the request failed.
func (s *served) get(t *testing.T, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + s.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// wsCall opens a session, initializes it and sends a call to gate.
func (s *served) wsCall(t *testing.T) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/mcp", &websocket.DialOptions{Subprotocols: []string{"mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gate"}}`,
	} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m, `"id":0`) {
			if _, _, err := ws.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ws
}

// readResult reads the reply to call 1 and then the close code.
func readResult(t *testing.T, ws *websocket.Conn) (result string, code websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return result, websocket.CloseStatus(err)
		}
		var m struct {
			ID     int
			Result *struct{ Content []struct{ Text string } }
			Error  *struct{ Message string }
		}
		if json.Unmarshal(data, &m) == nil && m.ID == 1 {
			switch {
			case m.Result != nil && len(m.Result.Content) > 0:
				result = m.Result.Content[0].Text
			case m.Error != nil:
				result = "error: " + m.Error.Message
			}
		}
	}
}

// When its context ends, Serve turns unready while still serving for the
// drain delay, then lets the WebSocket call and the HTTP request in flight
// finish, closes the socket with 1001, and returns nil once both drained.
func TestServeDrains(t *testing.T) {
	// The probe below must land inside the delay: a local request takes
	// milliseconds, even under -race on a busy machine, so a delay of
	// seconds leaves it hundreds of times the room it needs.
	const delay = 2 * time.Second
	s := startServe(t, &mcpws.Options{DrainDelay: delay})
	if code, _ := s.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before the drain = %d, want 200", code)
	}
	ws := s.wsCall(t)
	<-s.started
	slow := make(chan string, 1)
	go func() { code, body := s.get(t, "/slow"); slow <- http.StatusText(code) + " " + body }()
	<-s.started

	start := time.Now() // before the delay can begin: d below is at least the delay
	s.cancel()
	// Unready at once, and the listener still answers.
	if code, _ := s.get(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz during the drain delay = %d, want 503", code)
	}
	// After the delay the listener closes; the drain waits for both.
	deadline := time.Now().Add(delay + 10*time.Second)
	for {
		if code, _ := s.get(t, "/readyz"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 10s after the drain delay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("the listener closed after %v, before the %v drain delay", d, delay)
	}
	select {
	case <-s.done:
		t.Fatalf("Serve returned (%v) with a call and a request in flight", s.err)
	default:
	}
	close(s.release)
	if got := <-slow; got != "OK finished" {
		t.Errorf("the HTTP request in flight got %q", got)
	}
	result, code := readResult(t, ws)
	if result != "finished" || code != websocket.StatusGoingAway {
		t.Errorf("the call in flight got %q then close %d, want \"finished\" then 1001", result, code)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("Serve = %v, want nil after a clean drain", s.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
}

// At the drain deadline Serve closes what is left: the call still running
// is cut, the client that does not read is dropped (not closed politely,
// which would take coder/websocket's 5 s close timeouts), the HTTP
// request's connection is closed, and Serve reports the deadline.
func TestServeDeadline(t *testing.T) {
	const timeout = 500 * time.Millisecond
	logs := &testlog.Buffer{}
	s := startServe(t, &mcpws.Options{DrainTimeout: timeout, Logger: logs.Logger()})
	s.wsCall(t) // never read again
	<-s.started
	slow := make(chan int, 1)
	go func() { code, _ := s.get(t, "/slow"); slow <- code }()
	<-s.started

	start := time.Now()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10s after a 500ms drain timeout")
	}
	took, err := time.Since(start), s.err
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	// Never before the deadline; after it, by the documented CloseGrace at
	// most, here with ten times that for a busy machine.
	if took < timeout || took > timeout+10*wsmcp.CloseGrace {
		t.Errorf("Serve returned after %v with a %v drain timeout", took, timeout)
	}
	if !strings.Contains(logs.String(), "dropped=1") {
		t.Errorf("the client that does not read was not dropped at the deadline; logs:\n%s", logs)
	}
	if code := <-slow; code != 0 {
		t.Errorf("the HTTP request cut at the deadline got status %d, want its connection closed", code)
	}
	t.Logf("Serve returned after %v: %v", took.Round(time.Millisecond), err)
}

// failingListener fails on Accept.
type failingListener struct {
	net.Listener
	err error
}

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }

// An error of the listener is returned at once, with no drain.
func TestServeListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	boom := errors.New("accept: boom")
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return nil }, &mcpws.Options{DrainDelay: time.Hour})
	done := make(chan error, 1)
	go func() { done <- endpoint.Serve(context.Background(), &http.Server{}, failingListener{ln, boom}) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Serve = %v, want the listener's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return on a listener error")
	}
}
