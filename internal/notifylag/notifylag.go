// Package notifylag measures how long a subscriber waits for a
// resources/updated notification while another subscriber on the same
// replica has stopped reading: the figure of docs/scaling.md, for the tests
// of package wsmcp (MemoryBus) and package redismcpws (the Redis bus).
package notifylag

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/notify"
	"github.com/mcpws/mcpws/wsmcp"
)

// The run's resources, and its buffers. A notification for the slow
// subscriber is 4 KiB; its socket buffers are 8 KiB each way (the kernel
// doubles them) and its server queue and replay log 64 KiB, so that a few
// dozen fill them all: the outbound queue is full the same way as with the
// defaults, sooner, and each round's work is small enough to measure a
// stall, not the cost of encoding big messages.
const (
	VictimURI   = "test://victim"
	slowPad     = 4 << 10
	socketBytes = 8 << 10
	queueBytes  = 64 << 10
)

// SlowURI is the resource the non-reading subscriber watches.
var SlowURI = "test://slow/" + strings.Repeat("x", slowPad)

// Result is what Run measured.
type Result struct {
	// Base is the victim's longest wait over the rounds without the slow
	// subscriber; Slow, over the rounds with it, until it was closed.
	Base, Slow time.Duration
	// Rounds is how many rounds ran with the slow subscriber.
	Rounds int
	// Closed is how the slow subscriber's connection ended, SlowID its
	// session id.
	Closed wsmcp.CloseInfo
	SlowID string
	// Log is what the Handler logged.
	Log *testlog.Buffer
	// Notifier is the replica's, still open (Run closes it at cleanup).
	Notifier *notify.Notifier
}

// Delta is how much longer the victim waited with the slow subscriber.
func (r *Result) Delta() time.Duration { return r.Slow - r.Base }

// baseRounds is the number of rounds without the slow subscriber that
// count, after warmRounds that do not.
const (
	baseRounds = 100
	warmRounds = 5
)

// waitLimit bounds every wait of the run; today's stall is about 10 s.
const waitLimit = 30 * time.Second

// Run serves one replica whose Notifier publishes on bus, with a victim
// subscribed to VictimURI. Each round publishes a notification for SlowURI
// and, at the same time, one for VictimURI, and measures how long the
// victim waits for its own. It runs baseRounds rounds without a subscriber
// to SlowURI, then connects one that subscribes and never reads again, and
// runs rounds until that connection is closed. With resumable, the server
// offers resumption and the slow subscriber takes it.
func Run(t testing.TB, bus notify.Bus, resumable bool) *Result {
	t.Helper()
	res := &Result{Log: &testlog.Buffer{}}
	server := mcp.NewServer(&mcp.Implementation{Name: "lag", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	var mu sync.Mutex
	closed := make(chan struct{})
	var resumption *wsmcp.ResumptionOptions
	if resumable {
		resumption = &wsmcp.ResumptionOptions{MaxReplayBytes: queueBytes}
	}
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, &wsmcp.HandlerOptions{
		ConnOptions: wsmcp.ConnOptions{Logger: res.Log.Logger(), MaxQueueBytes: queueBytes},
		Resumption:  resumption,
		Hooks: &wsmcp.Hooks{Closed: func(_ context.Context, c wsmcp.ConnInfo, s wsmcp.CloseInfo) {
			mu.Lock()
			defer mu.Unlock()
			if c.SessionID == res.SlowID && res.SlowID != "" {
				res.Closed = s
				close(closed)
			}
		}},
	})
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.Close()
	})
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	res.Notifier = notify.New(server, bus, nil)
	t.Cleanup(res.Notifier.Close)

	got := make(chan time.Time, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "victim", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if req.Params.URI == VictimURI {
				got <- time.Now()
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: VictimURI}); err != nil {
		t.Fatalf("victim: %v", err)
	}

	// The notifications for SlowURI are published in goroutines of their
	// own, one per round, not waited for: a publish stuck on the slow
	// subscriber is then behind, not in front of, the victim's next one.
	var slow sync.WaitGroup
	defer func() {
		waited := make(chan struct{})
		go func() { slow.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			t.Errorf("a publish did not return within %v", waitLimit)
		}
	}()
	round := func() time.Duration {
		t.Helper()
		slow.Add(1)
		go func() {
			defer slow.Done()
			_ = res.Notifier.ResourceUpdated(ctx, SlowURI)
		}()
		start := time.Now()
		_ = res.Notifier.ResourceUpdated(ctx, VictimURI)
		select {
		case at := <-got:
			return at.Sub(start)
		case <-ctx.Done():
			t.Fatalf("the victim's notification did not arrive within %v", waitLimit)
			return 0
		}
	}
	for range warmRounds { // connections to dial, code paths to warm
		round()
	}
	for range baseRounds {
		res.Base = max(res.Base, round())
	}

	id := subscribeSlow(t, ctx, url, resumable)
	mu.Lock()
	res.SlowID = id
	mu.Unlock()
	for {
		res.Slow = max(res.Slow, round())
		res.Rounds++
		select {
		case <-closed:
			return res
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("the slow subscriber was not closed within %v (%d rounds)", waitLimit, res.Rounds)
		}
	}
}

// subscribeSlow connects a raw client, subscribes it to SlowURI and
// returns its session id; the client never reads again, so the socket
// buffers and the server's queue fill up.
func subscribeSlow(t testing.TB, ctx context.Context, url string, resumable bool) string {
	t.Helper()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := new(net.Dialer).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(socketBytes)
		}
		return c, err
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"mcp"},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dial}},
	})
	if err != nil {
		t.Fatalf("slow subscriber: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	call := func(msg, id string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("slow subscriber: %v", err)
		}
		if id == "" {
			return
		}
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("slow subscriber: %v", err)
		}
		var m struct {
			ID     string          `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(data, &m) != nil || m.ID != id || m.Result == nil {
			t.Fatalf("slow subscriber: reply %.200s", data)
		}
	}
	offer := "" // docs/resumption.md
	if resumable {
		offer = `,"_meta":{"io.mcpws/resume":{}}`
	}
	call(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"slow","version":"1"}`+offer+`}}`, "init")
	call(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "")
	call(fmt.Sprintf(`{"jsonrpc":"2.0","id":"sub","method":"resources/subscribe","params":{"uri":%q}}`, SlowURI), "sub")
	return resp.Header.Get(wsmcp.SessionIDHeader)
}

// smallBuffers gives the server side of every connection a small send
// buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(socketBytes)
	}
	return c, err
}
