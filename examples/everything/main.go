// Command everything serves one MCP server with every feature the official
// MCP conformance suite exercises, over WebSocket at /mcp and over the Go
// SDK's Streamable HTTP transport at /mcp-http, so that both transports can
// be tested and compared on the same server.
//
//	go run ./examples/everything -addr 127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
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

	"github.com/mcpws/mcpws/wsmcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	verbose := flag.Bool("v", false, "log connection events")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	server := newServer()
	go updateWatchedResource(ctx, server)

	ws := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, &wsmcp.HandlerOptions{Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("/mcp", ws)
	mux.Handle("/mcp-http", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// WebSocket connections are hijacked: http.Server.Shutdown does not wait
	// for them, so drain them alongside.
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ws.Shutdown(ctx)
	})
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = ws.Shutdown(shutdownCtx)
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line on stdout names the address, for scripts that pass -addr 127.0.0.1:0.
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Printf("everything: MCP over WebSocket at ws://%s/mcp, Streamable HTTP at http://%s/mcp-http", ln.Addr(), ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
