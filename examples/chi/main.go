// Command chi serves an MCP tool at /mcp on a chi router beside a REST API,
// with the whole stack: JWT with audience binding, an Origin allow-list,
// upgrade rates, connection caps, readiness and drain. The secret comes from
// JWT_SECRET (32 bytes or more); examples/mint signs tokens with it.
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
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
)

const resource = "https://mcp.example.com/mcp" // the audience tokens must name

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	verifier, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{
		Audience:  resource,
		Algorithm: jwa.HS256,
		Key:       []byte(os.Getenv("JWT_SECRET")),
	})
	if err != nil {
		log.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "greet", Description: "Say hello"}, greet)

	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return server }, &mcpws.Options{
		Verifier: verifier,
		Resource: resource,
		Origin: middleware.OriginOptions{
			AllowedOrigins: []string{"https://app.example.com"}, // browsers elsewhere are refused
		},
		UpgradesPerIP:       60, // a minute, before authentication
		UpgradesPerIdentity: 30, // a minute, after it
		MaxConnsPerIdentity: 8,
		MaxConns:            10000,
		Logger:              logger,
		DrainDelay:          5 * time.Second,  // readiness 503 first, for the load balancer
		DrainTimeout:        20 * time.Second, // then calls in flight finish, sockets close 1001
	})

	r := chi.NewRouter()
	r.Use(chimw.ClientIPFromXFFTrustedProxies(1)) // behind one proxy; leave out without one
	r.Use(chimw.Recoverer)
	r.Get("/api/notes", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]\n")) })
	r.Handle("/readyz", endpoint.Ready())
	endpoint.Mount(r, "/mcp")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	if err := endpoint.Serve(ctx, srv, ln); err != nil {
		log.Fatal(err)
	}
}

func greet(_ context.Context, req *mcp.CallToolRequest, in struct {
	Name string `json:"name" jsonschema:"who to greet"`
}) (*mcp.CallToolResult, any, error) {
	who := req.Extra.TokenInfo.UserID // the token's subject, in every call
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + ", from " + who}}}, nil, nil
}
