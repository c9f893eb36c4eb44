package mcpws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
)

// BenchmarkHTTPCall measures one tools/call over Streamable HTTP on a live
// 2025-11-25 session, through the whole stack of mcpws.New and through the
// go-sdk's handler alone behind the same verifier (what the stack adds:
// Origin, rates, caps, identity binding, drain accounting, hooks).
//
//	go test -run '^$' -bench HTTPCall -benchmem .
func BenchmarkHTTPCall(b *testing.B) {
	key, v := newIssuer(b)
	signed := signToken(b, key, nil)
	srv := whoamiServer()
	getServer := func(*http.Request) *mcp.Server { return srv }
	for _, bb := range []struct {
		name    string
		handler http.Handler
	}{
		{"go-sdk", auth.RequireBearerToken(v, nil)(mcp.NewStreamableHTTPHandler(getServer, nil))},
		{"mcpws", mcpws.New(getServer, &mcpws.Options{Verifier: v, Resource: resource, AuthorizationServers: []string{issuer}, UpgradesPerIdentity: -1, UpgradesPerIP: -1})},
	} {
		b.Run(bb.name, func(b *testing.B) {
			ts := httptest.NewServer(bb.handler)
			defer ts.Close()
			client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
			cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
				Endpoint: ts.URL, HTTPClient: bearerClient(signed), DisableStandaloneSSE: true,
			}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			params := &mcp.CallToolParams{Name: "whoami"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.CallTool(context.Background(), params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
