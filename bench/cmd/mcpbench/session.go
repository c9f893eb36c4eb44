package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// protocolVersion is the MCP version the sessions negotiate.
var protocolVersion string

// token mints an access token for one benchmark user: one identity per
// session, as real clients are, so that per-identity caps do not bind.
func token(i int) (string, error) {
	tok, err := jwt.NewBuilder().Subject(fmt.Sprintf("user-%d", i)).Audience([]string{audience}).Issuer(issuer).
		Expiration(time.Now().Add(24 * time.Hour)).Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	return string(b), err
}

// headerTransport adds the session's headers to every request of the
// Streamable HTTP client.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// connect opens n sessions over transport ("ws" or "http"), at most
// parallel at a time.
func connect(ctx context.Context, s *server, transport string, n, parallel int) ([]*mcp.ClientSession, error) {
	shared := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: n + 16, IdleConnTimeout: time.Minute}
	sessions := make([]*mcp.ClientSession, n)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		sem      = make(chan struct{}, parallel)
	)
	for i := range n {
		if firstErr.Load() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs, err := open(ctx, s, transport, i, shared)
			if err != nil {
				err = fmt.Errorf("session %d: %w", i, err)
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			sessions[i] = cs
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		closeAll(sessions)
		return nil, *p
	}
	return sessions, nil
}

func open(ctx context.Context, s *server, transport string, i int, shared *http.Transport) (*mcp.ClientSession, error) {
	tok, err := token(i)
	if err != nil {
		return nil, err
	}
	header := http.Header{"Authorization": {"Bearer " + tok}, "Origin": {origin}}
	var t mcp.Transport
	switch transport {
	case "ws":
		t = &wsmcp.ClientTransport{URL: "ws://" + s.addr + "/mcp", Header: header}
	case "http", "httpjson", "mcpws-http", "mcp-go":
		path := "/mcp-http"
		switch transport {
		case "httpjson":
			path = "/mcp-http-json"
		case "mcpws-http", "mcp-go":
			path = "/mcp" // the go-sdk's handler through the mcpws stack, or mcp-go's
		}
		t = &mcp.StreamableClientTransport{
			Endpoint:   "http://" + s.addr + path,
			HTTPClient: &http.Client{Transport: &headerTransport{base: shared, header: header}},
		}
	default:
		return nil, fmt.Errorf("unknown transport %q", transport)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpbench", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
}

func closeAll(sessions []*mcp.ClientSession) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, cs := range sessions {
		if cs == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs.Close()
		})
	}
	wg.Wait()
}

// echo calls the echo tool once.
func echo(ctx context.Context, cs *mcp.ClientSession) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}})
	if err != nil {
		return err
	}
	if res.IsError || len(res.Content) != 1 {
		return fmt.Errorf("unexpected echo result")
	}
	return nil
}
