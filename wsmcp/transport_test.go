package wsmcp_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

func newClient(opts *mcp.ClientOptions) *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
}

func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("unexpected result: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content is %T, want text", res.Content[0])
	}
	return tc.Text
}

var versions = []string{"2025-11-25", "2026-07-28"}

// Tool calls with progress work in both protocol generations.
func TestToolCallWithProgress(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	mcp.AddTool(server, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		for i := range 3 {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i + 1), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	ts := newTestServer(t, server, nil)
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			got := make(chan float64, 3)
			cs := connect(t, ts.url, newClient(&mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { got <- r.Params.Progress },
			}), v)
			if cs.InitializeResult() == nil {
				t.Fatal("no initialize result")
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "progress", Meta: mcp.Meta{"progressToken": "p1"}})
			if err != nil {
				t.Fatal(err)
			}
			if s := textOf(t, res); s != "done" {
				t.Errorf("result = %q", s)
			}
			// Notifications are written before the result on one socket, in order.
			for want := 1.0; want <= 3; want++ {
				select {
				case p := <-got:
					if p != want {
						t.Errorf("progress = %v, want %v", p, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("progress %v never arrived", want)
				}
			}
			res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "héllo"}})
			if err != nil || textOf(t, res) != "héllo" {
				t.Fatalf("echo = %v, %v", res, err)
			}
			_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "missing"})
			if err == nil || !strings.Contains(err.Error(), "missing") {
				t.Errorf("unknown tool error = %v", err)
			}
		})
	}
}

// In 2025-11-25 the server asks the client for sampling and elicitation in
// the middle of a tool call.
func TestServerToClientRequests(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	mcp.AddTool(server, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		msg, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "2+2?"}}}, MaxTokens: 10,
		})
		if err != nil {
			return nil, nil, err
		}
		el, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "name?", RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		answer := msg.Content.(*mcp.TextContent).Text + " " + el.Content["name"].(string)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: answer}}}, nil, nil
	})
	ts := newTestServer(t, server, nil)
	cs := connect(t, ts.url, newClient(&mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "4"}}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "ada"}}, nil
		},
	}), "2025-11-25")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, res); got != "4 ada" {
		t.Errorf("result = %q, want %q", got, "4 ada")
	}
}

// In 2026-07-28 a tool asks for input with an input-required result; the
// SDK client answers and retries over the same socket.
func TestInputRequired(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	mcp.AddTool(server, &mcp.Tool{Name: "greet"}, func(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		if r, ok := req.Params.InputResponses["name"].(*mcp.ElicitResult); ok {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello " + r.Content["name"].(string)}}}, nil, nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"name": &mcp.ElicitParams{Message: "name?", RequestedSchema: map[string]any{"type": "object"}}}}, nil, nil
	})
	ts := newTestServer(t, server, nil)
	var asked atomic.Int32
	cs := connect(t, ts.url, newClient(&mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "grace"}}, nil
		},
	}), "2026-07-28")
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, res); got != "hello grace" || asked.Load() != 1 {
		t.Errorf("result = %q after %d elicitations, want %q after 1", got, asked.Load(), "hello grace")
	}
}

// notifications/cancelled interrupts a running call, and a slow call does
// not hold up a fast one.
func TestCancelAndConcurrency(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	started, cancelled := make(chan struct{}), make(chan struct{})
	mcp.AddTool(server, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, nil, ctx.Err()
	})
	ts := newTestServer(t, server, nil)
	cs := connect(t, ts.url, newClient(nil), "2025-11-25")

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block"})
		errc <- err
	}()
	<-started
	// The blocked call does not stop a fast one.
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "fast"}})
	if err != nil || textOf(t, res) != "fast" {
		t.Fatalf("fast call: %v %v", res, err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call error = %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("server handler was not cancelled")
	}
	// The session is still usable.
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// Logging notifications and resource subscriptions reach the client.
func TestLoggingAndSubscriptions(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	server.AddResource(&mcp.Resource{Name: "r", URI: "test://r"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "v1"}}}, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "log"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{}}, nil, req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "warning", Data: "careful"})
	})
	ts := newTestServer(t, server, nil)
	logs := make(chan string, 1)
	updates := make(chan string, 1)
	cs := connect(t, ts.url, newClient(&mcp.ClientOptions{
		LoggingMessageHandler:  func(_ context.Context, r *mcp.LoggingMessageRequest) { logs <- r.Params.Data.(string) },
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updates <- r.Params.URI },
	}), "2025-11-25")
	ctx := context.Background()
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "log"}); err != nil {
		t.Fatal(err)
	}
	if got := <-logs; got != "careful" {
		t.Errorf("log = %q", got)
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	if err := server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://r"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-updates:
		if got != "test://r" {
			t.Errorf("update for %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no resources/updated notification")
	}
}

// Handlers see the caller's identity and a header with no secrets.
func TestRequestExtra(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	extras := make(chan *mcp.RequestExtra, 1)
	mcp.AddTool(server, &mcp.Tool{Name: "extra"}, func(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		extras <- req.Extra
		return &mcp.CallToolResult{Content: []mcp.Content{}}, nil, nil
	})
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{
		TokenInfo:      func(context.Context) *auth.TokenInfo { return &auth.TokenInfo{UserID: "alice"} },
		ForwardHeaders: []string{"x-trace"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cs, err := newClient(nil).Connect(ctx, &wsmcp.ClientTransport{
		URL: ts.url,
		Header: map[string][]string{
			"Authorization": {"Bearer secret-token"}, "Cookie": {"sid=secret-cookie"}, "X-Trace": {"t1"},
			"X-Forwarded-Access-Token": {"secret-proxy-token"}, "X-Amzn-Oidc-Data": {"secret-oidc"}, "User-Agent": {"agent/1"},
		},
		Subprotocols: []string{"mcp.auth.secret-sub"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "extra"}); err != nil {
		t.Fatal(err)
	}
	e := <-extras
	if e == nil || e.TokenInfo == nil || e.TokenInfo.UserID != "alice" {
		t.Fatalf("extra = %+v, want TokenInfo for alice", e)
	}
	if e.Header.Get("X-Trace") != "t1" || e.Header.Get("User-Agent") != "agent/1" || e.Header.Get("Sec-WebSocket-Protocol") != "mcp" {
		t.Errorf("allowed header lost: %v", e.Header)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			if strings.Contains(v, "secret") {
				t.Errorf("header %s leaks a secret: %q", k, v)
			}
		}
	}
	if cs.ID() == "" {
		t.Error("client session has no id from the upgrade response")
	}
}
