// Command hello mounts an MCP tool at /mcp on a chi router beside a REST route, with
// mcpws's defaults (browser Origins refused, rate and connection caps); drains on SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
)

func greet(_ context.Context, _ *mcp.CallToolRequest, in struct {
	Name string `json:"name" jsonschema:"who to greet"`
}) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	server := mcp.NewServer(&mcp.Implementation{Name: "hello", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "greet", Description: "Say hello"}, greet)
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, nil)
	r := chi.NewRouter()
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	endpoint.Mount(r, "/mcp")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	// Serve returns after SIGTERM, once calls in flight finished and sockets closed with 1001.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := endpoint.Serve(ctx, &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, ln); err != nil {
		log.Fatal(err)
	}
}
