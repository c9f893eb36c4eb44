// Command everything serves one MCP server with every feature the official
// MCP conformance suite exercises, over WebSocket at /mcp and over the Go
// SDK's Streamable HTTP transport at /mcp-http, so that both transports can
// be tested and compared on the same server.
//
// Flags turn on the secure stack of mcpws.New: an Origin allow-list,
// JWT authentication bound to an audience, message and upgrade rates and
// connection caps.
//
//	go run ./examples/everything -addr 127.0.0.1:8080
//	go run ./examples/everything -jwt-secret s3cret -audience http://127.0.0.1:8080/mcp \
//		-origins http://localhost:3000 -rate 100 -max-conns-per-user 8
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/rlimit"
)

func main() {
	c := parseFlags()
	rlimit.RaiseFiles()
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	server := newServer()
	go updateWatchedResource(ctx, server)
	getServer := func(*http.Request) *mcp.Server { return server }

	verifier, err := c.verifier(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ws := mcpws.New(getServer, c.options(verifier, logger))
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	mux.Handle("/mcp-http", c.streamable(mcp.NewStreamableHTTPHandler(getServer, nil), verifier))
	// The same with plain JSON responses instead of an SSE stream per request.
	mux.Handle("/mcp-http-json", c.streamable(mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{JSONResponse: true}), verifier))
	mux.Handle("/readyz", ws.Ready())
	mux.Handle("GET /{$}", page())
	if c.debug {
		mux.Handle("/debug/", debugHandler())
	}

	srv := c.httpServer(mux)
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		// WebSocket connections are hijacked: http.Server.Shutdown does
		// not wait for them, so drain them alongside.
		go srv.Shutdown(shutdownCtx)
		_ = ws.Shutdown(shutdownCtx)
	}()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line on stdout names the address, for scripts that pass -addr 127.0.0.1:0.
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Printf("everything: MCP over WebSocket at ws://%s/mcp, Streamable HTTP at http://%s/mcp-http (auth %v)", ln.Addr(), ln.Addr(), verifier != nil)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
