package wsmcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/wsmcp"
)

// recorder collects what Hooks report.
type recorder struct {
	mu       sync.Mutex
	opened   []wsmcp.ConnInfo
	closed   []wsmcp.CloseInfo
	messages []string // "in initialize 123"
	served   []string // "tools/call 0"
	limits   []wsmcp.Limit
	refused  []string // "405 method"
}

func (r *recorder) hooks() *wsmcp.Hooks {
	lock := func(f func()) { r.mu.Lock(); defer r.mu.Unlock(); f() }
	return &wsmcp.Hooks{
		Refused: func(_ *http.Request, status int, reason string) {
			lock(func() { r.refused = append(r.refused, fmt.Sprint(status, " ", reason)) })
		},
		Opened: func(_ context.Context, c wsmcp.ConnInfo) { lock(func() { r.opened = append(r.opened, c) }) },
		Closed: func(_ context.Context, _ wsmcp.ConnInfo, s wsmcp.CloseInfo) {
			lock(func() { r.closed = append(r.closed, s) })
		},
		Message: func(_ context.Context, dir wsmcp.Direction, method string, size int) {
			lock(func() { r.messages = append(r.messages, fmt.Sprint(dir, " ", method, " ", size)) })
		},
		Served: func(_ context.Context, method string, d time.Duration, code int64) {
			if d <= 0 {
				panic("non-positive request duration")
			}
			lock(func() { r.served = append(r.served, fmt.Sprint(method, " ", code)) })
		},
		Limited: func(_ context.Context, limit wsmcp.Limit) { lock(func() { r.limits = append(r.limits, limit) }) },
	}
}

func (r *recorder) snapshot() recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recorder{
		opened: slices.Clone(r.opened), closed: slices.Clone(r.closed), messages: slices.Clone(r.messages),
		served: slices.Clone(r.served), limits: slices.Clone(r.limits), refused: slices.Clone(r.refused),
	}
}

// A scripted session (connect, calls, a limit hit, close) produces the
// events and counts it should, in the hooks and in the log.
func TestHooksAndEvents(t *testing.T) {
	t.Parallel()
	var rec recorder
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Hooks: rec.hooks(), MessageRate: 0.001, MessageBurst: 5})

	// A refusal before the upgrade.
	resp, err := http.Post(ts.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c := dialRaw(t, ts.url)
	c.initialize()                                                                                              // messages 1 and 2
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`) // 3
	c.recv()
	c.send(`{"jsonrpc":"2.0","id":3,"method":"no/such"}`) // 4
	if m := c.recv(); errorCode(m) != -32601 {
		t.Fatalf("unknown method reply = %v", m)
	}
	c.send(`{"jsonrpc":"2.0","id":4,"method":"ping"}`) // 5: the last token
	c.recv()
	c.send(`{"jsonrpc":"2.0","id":5,"method":"ping"}`) // over the rate
	if m := c.recv(); errorCode(m) != wsmcp.CodeRateLimited {
		t.Fatalf("over-rate reply = %v", m)
	}
	if err := c.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Closed hook", func() bool { return len(rec.snapshot().closed) == 1 })

	got := rec.snapshot()
	if want := []string{"405 method"}; !slices.Equal(got.refused, want) {
		t.Errorf("refused = %v, want %v", got.refused, want)
	}
	if len(got.opened) != 1 || got.opened[0].SessionID == "" || got.opened[0].Remote == "" {
		t.Errorf("opened = %+v", got.opened)
	}
	if want := []string{"initialize 0", "tools/call 0", "no/such -32601", "ping 0"}; !slices.Equal(got.served, want) {
		t.Errorf("served = %v, want %v", got.served, want)
	}
	if want := []wsmcp.Limit{wsmcp.LimitMessageRate}; !slices.Equal(got.limits, want) {
		t.Errorf("limits = %v, want %v", got.limits, want)
	}
	var methodsIn, methodsOut []string
	for _, m := range got.messages {
		f := strings.Fields(m)
		if f[0] == "in" {
			methodsIn = append(methodsIn, f[1])
		} else {
			methodsOut = append(methodsOut, f[1])
		}
	}
	if want := []string{"initialize", "notifications/initialized", "tools/call", "no/such", "ping", "ping"}; !slices.Equal(methodsIn, want) {
		t.Errorf("messages in = %v, want %v", methodsIn, want)
	}
	// The transport's own replies (here the rate-limit error) bypass the
	// SDK and are not counted as messages out.
	if want := []string{"initialize", "tools/call", "no/such", "ping"}; !slices.Equal(methodsOut, want) {
		t.Errorf("messages out = %v, want %v", methodsOut, want)
	}
	s := got.closed[0]
	if s.Code != websocket.StatusNormalClosure || s.MessagesIn != 6 || s.MessagesOut != 4 || s.BytesIn == 0 || s.BytesOut == 0 || s.Duration <= 0 {
		t.Errorf("closed = %+v, want code 1000 with 6 in and 4 out", s)
	}

	log := ts.log.String()
	for _, want := range []string{
		`msg="wsmcp: upgrade refused"`, "status=405 reason=method",
		`msg="wsmcp: connection opened"`,
		`msg="wsmcp: limit hit"`, "limit=message_rate",
		`msg="wsmcp: connection closed"`, "code=1000", "messages_in=6 messages_out=4",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

// Log lines a user can read: durations as Go durations, a peer's close
// without a status not reported as an error, chi's request id on the
// connection's line, and no empty version.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	buf := &testlog.Buffer{}
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() },
		&wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{Logger: slog.New(slog.NewJSONHandler(buf, nil))}})
	ts := httptest.NewServer(chimw.RequestID(h))
	defer ts.Close()
	defer h.Shutdown(context.Background())
	c := dialRaw(t, "ws"+strings.TrimPrefix(ts.URL, "http"))
	c.initialize()
	if err := c.ws.Close(websocket.StatusNoStatusRcvd, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close line", func() bool { return strings.Contains(buf.String(), "connection closed") })
	var opened, closed map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch m["msg"] {
		case "wsmcp: connection opened":
			opened = m
		case "wsmcp: connection closed":
			closed = m
		}
	}
	if id, _ := opened["request_id"].(string); id == "" {
		t.Errorf("opened line lacks chi's request id: %v", opened)
	}
	if _, ok := opened["version"]; ok {
		t.Errorf("opened line has an empty version: %v", opened)
	}
	if d, _ := closed["duration"].(string); !strings.HasSuffix(d, "s") {
		t.Errorf("duration = %v, want a Go duration such as 12ms", closed["duration"])
	}
	if closed["code"] != float64(1005) || closed["error"] != nil {
		t.Errorf("close without a status: %v, want code 1005 and no error", closed)
	}
}
