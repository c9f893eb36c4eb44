// Command everything serves one MCP server with every feature the official
// MCP conformance suite exercises at /mcp, over WebSocket and over the Go
// SDK's Streamable HTTP, both behind the same stack. With -sdk-http it also
// serves the go-sdk's Streamable HTTP handler alone at /mcp-http (and
// /mcp-http-json), behind only the Origin check and the token: the
// benchmark's baseline, not a route for clients.
//
// Flags turn on the secure stack of mcpws.New: an Origin allow-list,
// JWT authentication bound to an audience, message and upgrade rates and
// connection caps.
//
// On SIGTERM or Ctrl-C it drains (mcpws.Endpoint.Serve): /readyz turns 503
// for -drain-delay, calls in flight finish, sockets close with 1001.
//
//	go -C examples run ./everything -addr 127.0.0.1:8080
//	JWT_SECRET=$(openssl rand -hex 32) go -C examples run ./everything -audience http://127.0.0.1:8080/mcp \
//		-origins http://localhost:3000 -rate 100 -max-conns-per-user 8
//
// With -stdio it serves one session on stdin/stdout instead (mcpws serve's
// child: mcpws serve -- everything -stdio).
//
// With -redis redis://host:port, copies that share the Redis (and the JWT
// secret) behind nginx (docs/deploy.md) form a cluster: connection caps and
// upgrade rates hold across all of them, the tool notify_resource_updated,
// called on any of them, reaches the subscribers of all, and with -resume
// sessions survive a replica's death (docs/scaling.md).
//
// With -policy FILE, a policy (docs/authorization.md) decides what each
// caller may list, call, read and get, by its token's scopes and claim
// values; policy.example.json is one with three roles. With -audit, each
// tool call, resource read and prompt get is logged as "mcpws: audit".
//
// With -debug-addr 127.0.0.1:6060, pprof and expvar are served there (a
// second line on stdout, "debug on ADDR", names it), never on the MCP
// listener.
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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/rlimit"
	"github.com/mcpws/mcpws/redismcpws"
)

func main() {
	c, err := parseFlags(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // a usage error, already printed
	}
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
	if c.stdio {
		// One session on stdin/stdout, logs on stderr: the child of
		// "mcpws serve -- everything -stdio".
		if err := server.Run(ctx, &mcp.StdioTransport{}); err != nil && ctx.Err() == nil {
			log.Fatal(err)
		}
		return
	}
	getServer := func(*http.Request) *mcp.Server { return server }

	// -redis: the replicas share state through Redis (docs/scaling.md).
	rdb, closeRedis, err := c.redisClient()
	if err != nil {
		log.Fatal(err)
	}
	defer closeRedis()
	// Notifications raised on any replica reach the sessions of all.
	notify := notifier(server, rdb, logger)
	defer notify.Close()
	addNotifyTool(server, notify)

	verifier, err := c.Verifier(ctx)
	if err != nil {
		log.Fatal(err)
	}
	opts := c.Options(verifier, logger, nil)
	if c.policy != nil {
		// A rule that names nothing this server has is most likely a typo.
		tools, resources, prompts, err := inventory(ctx, server)
		if err != nil {
			log.Fatal(err)
		}
		for _, line := range c.policy.Unused(tools, resources, prompts) {
			logger.Warn("everything: "+line, "policy", c.policyPath)
		}
		opts.Policy = c.policy
	}
	if c.audit {
		// The records are Info events: on a logger of their own, so that
		// they show without -v.
		opts.Audit = &audit.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	}
	if rdb != nil {
		// Connection caps and upgrade rates hold across all replicas.
		limits := redismcpws.NewLimits(rdb, c.limitsOptions(logger))
		defer limits.Close()
		opts.SharedLimits = limits
		// Resumable sessions survive their replica (with -resume).
		if opts.Transport.Resumption != nil {
			opts.Transport.Resumption.Store = redismcpws.NewSessionStore(rdb, nil)
		}
	}

	ws := mcpws.New(getServer, opts)
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	if c.sdkHTTP {
		mux.Handle("/mcp-http", c.streamable(mcp.NewStreamableHTTPHandler(getServer, nil), verifier))
		// The same with plain JSON responses instead of an SSE stream per request.
		mux.Handle("/mcp-http-json", c.streamable(mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{JSONResponse: true}), verifier))
	}
	mux.Handle("/readyz", ws.Ready())
	mux.Handle("GET /{$}", page())

	var dln net.Listener
	if c.debugAddr != "" {
		if dln, err = listenDebug(c.debugAddr); err != nil {
			log.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line on stdout names the address, for scripts that pass -addr 127.0.0.1:0.
	fmt.Printf("listening on %s\n", ln.Addr())
	if dln != nil {
		fmt.Printf("debug on %s\n", dln.Addr())
		dbg := debugServer()
		go dbg.Serve(dln)
		defer dbg.Close()
	}
	log.Printf("everything: MCP at ws://%s/mcp (WebSocket) and http://%s/mcp (Streamable HTTP), auth %v", ln.Addr(), ln.Addr(), verifier != nil)
	// Serve returns once the HTTP requests and the WebSocket sessions have
	// drained after SIGTERM; a second signal kills the process at once.
	context.AfterFunc(ctx, stop)
	if err := ws.Serve(ctx, c.HTTPServer(mux), ln); err != nil {
		log.Fatal(err)
	}
}
