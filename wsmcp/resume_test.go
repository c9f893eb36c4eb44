package wsmcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// progressLog collects the progress notifications a client receives.
type progressLog struct {
	mu   sync.Mutex
	seen []float64
}

func (p *progressLog) handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, req.Params.Progress)
}

func (p *progressLog) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

// expectAll waits for n notifications and checks that they are 0 … n-1,
// each once, in order.
func (p *progressLog) expectAll(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "every notification", func() bool { return p.count() >= n })
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, v := range p.seen {
		if v != float64(i) {
			t.Fatalf("notification %d is %v: lost, repeated or out of order (%d in all)", i, v, len(p.seen))
		}
	}
}

// resumableClient connects a 2025-11-25 session through the proxy with
// reconnection on; progress and sampling go to the given handlers.
func resumableClient(t *testing.T, url string, progress *progressLog, sample func() (string, error)) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: progress.handler,
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			text, err := sample()
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: text}}, err
		},
	})
	var ev events
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url, Reconnect: ev.options(wsmcp.ReconnectOptions{})},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// With resumption on, a 2025 session survives cut connections: a tool
// streaming progress delivers every notification exactly once and in
// order, its result arrives, and a sampling answer given while the socket
// was dead reaches the tool.
func TestResumption(t *testing.T) {
	t.Parallel()
	_, proxy, url := chaosServer(t, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 10 * time.Second}})
	var progress progressLog
	cutInSampling := true
	cs := resumableClient(t, url, &progress,
		func() (string, error) {
			if cutInSampling {
				proxy.Cut() // the answer is written to a dead socket
			}
			return "42", nil
		})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const n = 200
	done := make(chan error, 1)
	var result string
	go func() {
		params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": n, "ms": 2}}
		params.SetProgressToken("p")
		res, err := cs.CallTool(ctx, params)
		if err == nil {
			result = res.Content[0].(*mcp.TextContent).Text
		}
		done <- err
	}()
	for _, at := range []int{20, 70, 140} {
		waitFor(t, "progress", func() bool {
			select {
			case err := <-done:
				t.Fatalf("the call ended early: %v", err)
			default:
			}
			return progress.count() >= at
		})
		proxy.Cut()
	}
	if err := <-done; err != nil {
		t.Fatalf("count across cuts: %v", err)
	}
	if result != "counted 200" {
		t.Errorf("result = %q", result)
	}
	progress.expectAll(t, n)

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask"})
	if err != nil {
		t.Fatalf("ask with a cut during sampling: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "answer: 42" {
		t.Errorf("ask = %q", got)
	}
	if got, err := echoText(ctx, cs, "still here"); err != nil || got != "still here" {
		t.Errorf("echo after resumptions = %q, %v", got, err)
	}
}

// A resume request is refused, with one and the same answer, for an
// unknown session, a wrong secret, and another identity presenting the
// right id and secret; the session itself carries on.
func TestResumeRefused(t *testing.T) {
	t.Parallel()
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() },
		&wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User") // stands in for a verified token
		h.ServeHTTP(w, r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: user})))
	}))
	// Cleanups run last-in first-out: the raw clients close before this.
	t.Cleanup(func() { h.Shutdown(context.Background()); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http")

	dial := func(user string) (*rawConn, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			Subprotocols: []string{"mcp"}, HTTPHeader: http.Header{"X-User": {user}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		return &rawConn{t: t, ws: ws}, resp.Header.Get(wsmcp.SessionIDHeader)
	}
	// Alice's session, granted resumption.
	alice, id := dial("alice")
	alice.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`)
	init := alice.recv()
	var grant struct {
		Result struct {
			Meta map[string]struct {
				Secret string `json:"secret"`
			} `json:"_meta"`
		} `json:"result"`
	}
	b, _ := json.Marshal(init)
	json.Unmarshal(b, &grant)
	secret := grant.Result.Meta[metaResume].Secret
	if secret == "" || id == "" {
		t.Fatalf("no grant in %v (session %q)", init, id)
	}
	alice.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	resume := func(user, session, secret string) (map[string]any, websocket.StatusCode) {
		c, _ := dial(user)
		req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "io.mcpws/resume", "method": "initialize",
			"params": map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"},
				"_meta": map[string]any{metaResume: map[string]any{"sessionId": session, "secret": secret, "received": 0}}}})
		c.send(string(req))
		return c.recv(), c.closeCode()
	}
	var answers []string
	for _, tt := range []struct{ name, user, session, secret string }{
		{"unknown session", "alice", "NO-SUCH-SESSION", secret},
		{"wrong secret", "alice", id, "wrong"},
		{"other identity", "mallory", id, secret},
	} {
		reply, code := resume(tt.user, tt.session, tt.secret)
		if errorCode(reply) != wsmcp.CodeNotResumable || code != websocket.StatusPolicyViolation {
			t.Errorf("%s: reply %v, close %d; want code %d and 1008", tt.name, reply, code, wsmcp.CodeNotResumable)
		}
		b, _ := json.Marshal(reply)
		answers = append(answers, string(b))
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Errorf("refusals differ, which tells an attacker what exists:\n%s", strings.Join(answers, "\n"))
	}
	// Alice's session was not disturbed.
	alice.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := alice.recv(); m["id"] != float64(2) || m["result"] == nil {
		t.Errorf("alice's ping after the attempts = %v", m)
	}
}

// A client that does not come back within the grace period loses its
// session: its resume is refused and it gets ErrSessionLost.
func TestResumptionGraceExpires(t *testing.T) {
	t.Parallel()
	ts, proxy, url := chaosServer(t, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 100 * time.Millisecond}})
	cs := resumableClient(t, url, new(progressLog), func() (string, error) { return "", nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := echoText(ctx, cs, "x"); err != nil {
		t.Fatal(err)
	}
	proxy.SetRefuse(true)
	proxy.Cut()
	waitFor(t, "the parked session to expire", func() bool {
		return strings.Contains(ts.log.String(), "parked session expired")
	})
	proxy.SetRefuse(false)
	err := cs.Wait()
	if !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("session ended with %v, want ErrSessionLost", err)
	}
}

// A resumable session whose output outruns the peer's acknowledgements
// waits for room in its replay log instead of ending: 2 MiB of progress
// through a 64 KiB log, across a cut, all delivered once.
func TestResumptionLogWaitsForAcks(t *testing.T) {
	t.Parallel()
	_, proxy, url := chaosServer(t, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{MaxReplayBytes: 64 << 10}})
	var progress progressLog
	cs := resumableClient(t, url, &progress, func() (string, error) { return "", nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 128
	done := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": n, "ms": 0, "size": 16 << 10}}
		params.SetProgressToken("big")
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	waitFor(t, "half the stream", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the call ended early: %v", err)
		default:
		}
		return progress.count() >= n/2
	})
	proxy.Cut()
	if err := <-done; err != nil {
		t.Fatalf("streaming 2 MiB through a 64 KiB log: %v", err)
	}
	progress.expectAll(t, n)
}

// The client finds a silent path dead and resumes while the server still
// believes in the old socket: the server retires it and nothing sent
// around the switch is lost or repeated.
func TestResumeWhileOldSocketLooksAlive(t *testing.T) {
	t.Parallel()
	ts, proxy, url := chaosServer(t, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{}})
	var progress progressLog
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: progress.handler,
	})
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{
		ConnOptions: wsmcp.ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond},
		URL:         url,
		Reconnect:   &wsmcp.ReconnectOptions{MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	const n = 300
	done := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": n, "ms": 1}}
		params.SetProgressToken("t")
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	waitFor(t, "the stream to start", func() bool { return progress.count() > 30 })
	proxy.Stall() // the old path goes silent; the server's pings are 25 s apart
	if err := <-done; err != nil {
		t.Fatalf("call across the switch: %v", err)
	}
	if !strings.Contains(ts.log.String(), "session resumed") {
		t.Error("no resume was logged")
	}
	progress.expectAll(t, n)
	// The old path is still stalled, and the session reads the new
	// socket: a call made now is answered, and the pings on the new socket
	// (every 50 ms, dropped after 100 ms without a pong) keep it up.
	for i := range 5 {
		if err := cs.Ping(ctx, nil); err != nil {
			t.Fatalf("ping %d after the switch: %v\n%s", i, err, ts.log.String())
		}
		time.Sleep(50 * time.Millisecond) // spans a few of the client's ping intervals
	}
}

// MaxLifetime sends clients away to re-authenticate: a resumable session
// comes back with a fresh token each time and a call streaming across
// several lifetimes completes with nothing lost.
//
// On a loaded machine a resume handshake can outlast MaxLifetime: the
// lifetime timer then fires while the handler still sets the connection
// up, which the race detector checks.
func TestMaxLifetimeResumes(t *testing.T) {
	t.Parallel()
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, &wsmcp.HandlerOptions{
		MaxLifetime: 250 * time.Millisecond,
		Resumption:  &wsmcp.ResumptionOptions{},
	})
	var tokens sync.Map
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		if _, reused := tokens.LoadOrStore(tok, true); reused {
			http.Error(w, "token already used", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(wsmcp.ContextWithTokenInfo(r.Context(), &auth.TokenInfo{UserID: "u"})))
	}))
	t.Cleanup(func() { h.Shutdown(context.Background()); ts.Close() })

	var (
		issued   atomic.Int64
		progress progressLog
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: progress.handler,
	})
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{
		URL:         "ws" + strings.TrimPrefix(ts.URL, "http"),
		TokenSource: func(context.Context) (string, error) { return fmt.Sprintf("t%d", issued.Add(1)), nil },
		Reconnect:   &wsmcp.ReconnectOptions{MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	const n = 100
	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": n, "ms": 10}}
	params.SetProgressToken("life")
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatalf("a call across lifetimes: %v", err)
	}
	if got := issued.Load(); got < 3 {
		t.Errorf("%d tokens issued, want one per lifetime (at least 3 over a second)", got)
	}
	progress.expectAll(t, n)
}

// Two resume answers lost in a row (each resume socket dies before the
// answer arrives): the client still holds only its first secret, and a
// third resume with it succeeds. The secret a client presented stays good
// until it is heard on a new socket.
func TestResumeAfterTwoLostAnswers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 10 * time.Second}})
	first, id := dialRawHeader(t, ts.url, nil)
	first.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`)
	var grant struct {
		Result struct {
			Meta map[string]struct{ Secret string } `json:"_meta"`
		} `json:"result"`
	}
	b, _ := json.Marshal(first.recv())
	json.Unmarshal(b, &grant)
	secret := grant.Result.Meta[metaResume].Secret
	if secret == "" {
		t.Fatal("no grant")
	}
	_ = first.ws.CloseNow()
	resume, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "io.mcpws/resume", "method": "initialize",
		"params": map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"},
			"_meta": map[string]any{metaResume: map[string]any{"sessionId": id, "secret": secret, "received": 1}}}})
	for lost := 1; lost <= 2; lost++ {
		c, _ := dialRawHeader(t, ts.url, nil)
		c.send(string(resume))
		waitFor(t, "the resume", func() bool { return strings.Count(ts.log.String(), `msg="wsmcp: session resumed"`) == lost })
		_ = c.ws.CloseNow() // the answer is never read
	}
	c, _ := dialRawHeader(t, ts.url, nil)
	c.send(string(resume))
	if reply := c.recv(); errorCode(reply) != 0 || reply["result"] == nil {
		t.Fatalf("third resume with the first secret = %v; want the session", reply)
	}
}
