package mcpws_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
)

// BenchmarkHTTPCall measures one tools/call over Streamable HTTP on a live
// 2025-11-25 session, through the whole stack of mcpws.New and through the
// go-sdk's handler alone behind the same verifier (what the stack adds:
// Origin, rates, caps, identity binding, drain accounting, hooks).
//
//	go test -run '^$' -bench HTTPCall -benchmem .
func BenchmarkHTTPCall(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	v, err := middleware.NewJWTVerifier(context.Background(), middleware.JWTOptions{
		Audience: resource, Issuer: issuer, Algorithm: jwa.RS256, Key: &key.PublicKey, Leeway: time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := jwt.New()
	_ = tok.Set(jwt.SubjectKey, "alice")
	_ = tok.Set(jwt.IssuerKey, issuer)
	_ = tok.Set(jwt.AudienceKey, []string{resource})
	_ = tok.Set(jwt.ExpirationKey, time.Now().Add(time.Hour))
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	if err != nil {
		b.Fatal(err)
	}
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
				Endpoint: ts.URL, HTTPClient: bearerClient(string(signed)), DisableStandaloneSSE: true,
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
