package redismcpws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/redistest"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/redismcpws"
	"github.com/mcpws/mcpws/wsmcp"
)

// A rule's rate is one bound across replicas when they share Redis
// (mcpws.Options.SharedLimits): two calls on one replica, and the third,
// on another, is refused -32011; another identity still calls.
func TestPolicyRateAcrossReplicas(t *testing.T) {
	rdb := client(t, redistest.Start(t))
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["search"],"rate":{"calls":2,"per":"1h"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for range 2 {
		limits := redismcpws.NewLimits(rdb, &redismcpws.LimitsOptions{Prefix: "policy:", Timeout: 5 * time.Second})
		t.Cleanup(func() { limits.Close() })
		srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		mcp.AddTool(srv, &mcp.Tool{Name: "search"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "found"}}}, nil, nil
		})
		e := mcpws.New(func(*http.Request) *mcp.Server { return srv }, &mcpws.Options{
			Verifier: verifySubject, Resource: "https://mcp.test/mcp", AuthorizationServers: []string{"https://idp.test"},
			SharedLimits: limits, Policy: p,
		})
		ts := httptest.NewServer(e)
		t.Cleanup(func() { _ = e.Shutdown(context.Background()); ts.Close() })
		urls = append(urls, "ws"+strings.TrimPrefix(ts.URL, "http"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func(url, sub string) error {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
			&wsmcp.ClientTransport{URL: url, Header: http.Header{"Authorization": {"Bearer " + sub}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search"})
		return err
	}
	for i := range 2 {
		if err := call(urls[0], "ada"); err != nil {
			t.Fatalf("call %d on replica 0: %v", i, err)
		}
	}
	var je *jsonrpc.Error
	if err := call(urls[1], "ada"); !errors.As(err, &je) || je.Code != policy.CodeRateLimited {
		t.Errorf("third call, on replica 1: %v, want code %d", err, policy.CodeRateLimited)
	}
	if err := call(urls[1], "bob"); err != nil {
		t.Errorf("another identity: %v", err)
	}
}
