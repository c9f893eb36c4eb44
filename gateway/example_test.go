//go:build linux

package gateway_test

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/gateway"
	"github.com/mcpws/mcpws/wsmcp"
)

// A stdio MCP server at /mcp of a server of your own, one process per
// session, with the gateway's metrics on a listener of their own.
func Example() {
	gw, err := gateway.New(&gateway.Options{
		Command: []string{"npx", "-y", "@modelcontextprotocol/server-everything", "stdio"},
		Env:     []string{"PATH", "HOME"}, // nothing else of this process's environment
	})
	if err != nil {
		log.Fatal(err)
	}
	endpoint := mcpws.NewConnEndpoint(gw.Session, &mcpws.Options{
		Transport: &wsmcp.HandlerOptions{Hooks: gw.Hooks()},
	})
	mux := http.NewServeMux()
	endpoint.Mount(mux, "/mcp")
	go http.ListenAndServe("127.0.0.1:9090", gw.Metrics())

	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Returns after SIGTERM, once the sessions have ended: their processes
	// are then on their way out.
	if err := endpoint.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln); err != nil {
		log.Print(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*gateway.DefaultKillGrace+5*time.Second)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		log.Print("processes killed at exit: ", err)
	}
}
