package mcpws_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// The audit trail has one record per call, with who called (subject,
// issuer, client), where (session, transport), what (method, name, the
// size of the arguments, never their content) and how it ended, for every
// outcome: ok, a tool error, a policy refusal, a cancellation.
func TestAuditTrail(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := whoamiServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "boom"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return nil, nil, errors.New("boom")
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "wait"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["whoami"],"scopes":["admin"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var records []audit.Record
	s := newStackServer(t, srv, func(o *mcpws.Options) {
		o.Policy = p
		o.Audit = &audit.Options{Sink: func(_ context.Context, r audit.Record) {
			mu.Lock()
			records = append(records, r)
			mu.Unlock()
		}}
	})
	tok := s.token(t, func(tk jwt.Token) { _ = tk.Set("azp", "cli-app") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := mcp.NewClient(&mcp.Implementation{Name: "ws", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(tok)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	httpCS, err := connectHTTP(t, s, tok, "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	defer httpCS.Close()

	ws.CallTool(ctx, &mcp.CallToolParams{Name: "echo-less", Arguments: map[string]any{"secret": "hunter2"}})
	ws.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	httpCS.CallTool(ctx, &mcp.CallToolParams{Name: "boom"})
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ws.CallTool(cctx, &mcp.CallToolParams{Name: "wait"}) }()
	<-started
	ccancel()
	<-done
	// The cancelled call's record is written when its handler returns,
	// after the client gave up: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(records)
		mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		name, transport string
		outcome         audit.Outcome
		code            int64
	}{
		{"echo-less", "websocket", audit.Error, -32602},
		{"whoami", "websocket", audit.Refused, policy.CodeInsufficientScope},
		{"boom", "http", audit.Error, 0},
		{"wait", "websocket", audit.Cancelled, 0},
	}
	if len(records) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(records), len(want), records)
	}
	for i, w := range want {
		r := records[i]
		if r.Name != w.name || r.Transport != w.transport || r.Outcome != w.outcome || (w.code != 0 && r.Code != w.code) {
			t.Errorf("record %d = %s %s %s %d, want %s %s %s %d", i, r.Name, r.Transport, r.Outcome, r.Code, w.name, w.transport, w.outcome, w.code)
		}
		if r.Subject != "alice" || r.Issuer != issuer || r.Client != "cli-app" || r.Session == "" || r.Method != "tools/call" || r.Time.IsZero() || r.Duration <= 0 {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if records[0].ArgumentBytes != len(`{"secret":"hunter2"}`) {
		t.Errorf("argument bytes %d", records[0].ArgumentBytes)
	}
}

// Without a sink the records go to the log, without the arguments.
func TestAuditLog(t *testing.T) {
	s := newStack(t, func(o *mcpws.Options) { o.Audit = &audit.Options{Logger: o.Logger} })
	cs, err := connectHTTP(t, s, s.token(t, nil), "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{"secret": "hunter2"}})
	logs := s.logs.String()
	for _, want := range []string{`msg="mcpws: audit"`, "subject=alice", "transport=http", "method=tools/call", "name=whoami", "outcome=ok", "argument_bytes=20"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(logs, "hunter2") {
		t.Error("an argument was logged")
	}
}
