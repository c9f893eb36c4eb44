// Command mcpgo serves the load generator's echo tool with mcp-go
// (github.com/mark3labs/mcp-go), the most used other Go MCP library, over
// its Streamable HTTP server at /mcp, behind the same JWT verification as
// examples/everything, so that mcpbench measures it beside mcpws in one
// run. It is a peer to measure, not a dependency of the library: it lives
// in the bench module only.
//
//	JWT_SECRET=... mcpgo -addr 127.0.0.1:0 -debug-addr 127.0.0.1:0 -audience URL
//
// It prints "listening on ADDR" and "debug on ADDR" (pprof and expvar,
// loopback only, for mcpbench's memory figures) and stops on SIGINT.
package main

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/debugvars"
	"github.com/mcpws/mcpws/middleware"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address of the MCP listener")
	debugAddr := flag.String("debug-addr", "127.0.0.1:0", "loopback address of pprof and expvar")
	audience := flag.String("audience", "", "the audience tokens must carry (required)")
	issuer := flag.String("issuer", "", "the issuer tokens must carry")
	flag.Parse()
	secret := os.Getenv("JWT_SECRET")
	if *audience == "" || secret == "" {
		log.Fatal("mcpgo: -audience and JWT_SECRET are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	s := server.NewMCPServer("mcpgo-bench", "1")
	s.AddTool(mcp.NewTool("echo", mcp.WithDescription("Returns its text argument"), mcp.WithString("text", mcp.Required())),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("text", "")), nil
		})
	verifier, err := middleware.NewJWTVerifier(ctx, middleware.JWTOptions{Audience: *audience, Issuer: *issuer, Algorithm: jwa.HS256, Key: []byte(secret)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", auth.RequireBearerToken(verifier, nil)(server.NewStreamableHTTPServer(s)))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	dln, err := net.Listen("tcp", *debugAddr)
	if err != nil {
		log.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(dln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Fatal("mcpgo: -debug-addr must be a loopback address")
	}
	fmt.Printf("listening on %s\ndebug on %s\n", ln.Addr(), dln.Addr())
	go http.Serve(dln, debugMux())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// debugMux serves what mcpbench reads of a server: a GC through pprof's
// heap handler, and memstats, goroutines and the runtime's CPU classes
// through expvar, under the names examples/everything uses.
func debugMux() *http.ServeMux {
	debugvars.Publish()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}
