package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/internal/rlimit"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// runServe runs "mcpws serve": the stdio MCP server COMMAND behind the
// secure stack at /mcp, one process per session. It prints "listening on
// ADDR" (and "metrics on ADDR" with -metrics-addr) on stdout, logs on
// stderr, and drains when ctx ends: new upgrades refused, calls in flight
// finished, sockets closed with 1001, every process stopped and reaped.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == rlimitExecFlag {
		return rlimitExec(args[1:], os.Environ(), stderr)
	}
	cfg, err := parseServe(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("mcpws serve: " + err.Error())
		return 1
	}
	return 0
}

// serve runs the gateway until ctx ends and every child is reaped.
func serve(ctx context.Context, cfg *serveConfig, logger *slog.Logger, stdout io.Writer) error {
	rlimit.RaiseFiles()
	// The children run as this user: without this, each could read the
	// gateway's environment (JWT_SECRET) from /proc.
	if err := notDumpable(); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	verifier, err := cfg.verifier(ctx)
	if err != nil {
		return err
	}
	// Whatever the processes start, however it detaches, comes back to
	// the gateway when its parent dies.
	r, err := newReaper(logger)
	if err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	defer r.close()
	stopReaper := make(chan struct{})
	var reaping sync.WaitGroup
	reaping.Go(func() { r.run(stopReaper) })
	defer func() { close(stopReaper); reaping.Wait() }()
	m := newMetrics()
	g, err := newGateway(cfg, logger, m, r)
	if err != nil {
		return err
	}
	m.running = g.Running
	ws := mcpws.NewConnEndpoint(g.getServe, cfg.options(verifier, logger, m.hooks()))
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	mux.Handle("/readyz", ws.Ready())

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		fmt.Fprintf(stdout, "metrics on %s\n", mln.Addr())
		mmux := http.NewServeMux()
		mmux.Handle("/metrics", m)
		msrv := &http.Server{Handler: mmux, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
	}
	logger.Info("mcpws serve: serving", "addr", ln.Addr().String(), "command", cfg.command[0], "auth", verifier != nil)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: cfg.maxHeaderBytes}
	serveErr := ws.Serve(ctx, srv, ln)
	// The sockets are closed: every child has had its stdin closed and is
	// on its way out; the kill grace bounds how long that takes.
	wctx, cancel := context.WithTimeout(context.Background(), 2*cfg.killGrace+5*time.Second)
	defer cancel()
	if err := g.wait(wctx); err != nil {
		logger.Error("mcpws serve: processes still running at exit; killing them", "count", g.Running())
		g.killAll()
		kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer kcancel()
		_ = g.wait(kctx)
	}
	return serveErr
}

// verifier builds the JWT verifier, or nil without authentication.
func (c *serveConfig) verifier(ctx context.Context) (auth.TokenVerifier, error) {
	if c.jwtSecret == "" && c.jwksURL == "" {
		return nil, nil
	}
	opts := middleware.JWTOptions{Audience: c.audience, Issuer: c.issuer}
	if c.jwtSecret != "" {
		opts.Algorithm = "HS256"
		opts.Key = []byte(c.jwtSecret)
	} else {
		opts.JWKSURL = c.jwksURL
	}
	return middleware.NewJWTVerifier(ctx, opts)
}

// options assembles the mcpws stack from the flags.
func (c *serveConfig) options(v auth.TokenVerifier, logger *slog.Logger, hooks *wsmcp.Hooks) *mcpws.Options {
	o := &mcpws.Options{
		Transport: &wsmcp.HandlerOptions{Logger: logger, PingInterval: c.pingInterval, PongTimeout: c.pongTimeout, Hooks: hooks,
			IdleTimeout: c.idleTimeout, MaxLifetime: c.maxLifetime},
		Origin:              middleware.OriginOptions{AllowedOrigins: list(c.origins), AllowedHosts: list(c.hosts)},
		Verifier:            v,
		Resource:            c.audience,
		Scopes:              list(c.scopes),
		MaxConnsPerIdentity: c.maxConnsPerID,
		MaxConns:            c.maxConns,
		UpgradesPerIP:       c.upgradesPerIP,
		Logger:              logger,
		DrainDelay:          c.drainDelay,
		DrainTimeout:        c.drainTimeout,
	}
	if c.issuer != "" {
		o.AuthorizationServers = []string{c.issuer}
	}
	if c.resume > 0 {
		o.Transport.Resumption = &wsmcp.ResumptionOptions{GracePeriod: c.resume}
	}
	if c.rate != 0 {
		o.Transport.MessageRate = rate.Limit(c.rate)
	}
	return o
}

// list splits a comma-separated flag value.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
