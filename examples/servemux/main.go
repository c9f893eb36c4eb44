// Command servemux mounts an authenticated MCP endpoint on a standard
// library http.ServeMux, beside the application's own REST routes and
// middleware, and drains it on SIGTERM: /readyz turns 503 for -drain-delay
// while the listener still serves, calls in flight finish, sockets close
// with 1001, and only then does the process exit.
//
//	MCP_JWT_SECRET=… go -C examples run ./servemux -addr 127.0.0.1:8080 \
//		-resource http://127.0.0.1:8080/mcp -origins http://localhost:3000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	resource := flag.String("resource", "http://127.0.0.1:8080/mcp", "this endpoint's resource identifier: the audience tokens must carry")
	origins := flag.String("origins", "", "comma-separated browser Origins allowed to connect")
	drainDelay := flag.Duration("drain-delay", 0, "on SIGTERM, keep serving with /readyz at 503 this long before draining")
	flag.Parse()
	secret := os.Getenv("MCP_JWT_SECRET")
	if secret == "" {
		log.Fatal("set MCP_JWT_SECRET to the HS256 secret tokens are signed with")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	verifier, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{
		Audience: *resource, Algorithm: "HS256", Key: []byte(secret),
	})
	if err != nil {
		log.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Returns the caller's subject"},
		func(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: req.Extra.TokenInfo.UserID}}}, nil, nil
		})
	mcpServer := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Verifier: verifier,
		Resource: *resource,
		Origin:   middleware.OriginOptions{AllowedOrigins: strings.FieldsFunc(*origins, func(r rune) bool { return r == ',' })},
		Logger:   logger,
		// On SIGTERM: unready for DrainDelay, then at most DrainTimeout
		// (15 s by default) for calls in flight.
		DrainDelay: *drainDelay,
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/notes", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]\n")) })
	mux.Handle("GET /readyz", mcpServer.Ready())
	mcpServer.Mount(mux, "/mcp")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Printf("servemux: REST at http://%s/api/notes, MCP at ws://%s/mcp", ln.Addr(), ln.Addr())
	// Serve returns once the REST requests and the MCP sessions have drained.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	if err := mcpServer.Serve(ctx, srv, ln); err != nil {
		log.Fatal(err)
	}
}
