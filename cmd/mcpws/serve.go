//go:build linux

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
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/gateway"
	"github.com/mcpws/mcpws/internal/rlimit"
	"github.com/mcpws/mcpws/wsmcp"
)

// runServe runs "mcpws serve": the stdio MCP server COMMAND behind the
// secure stack at /mcp, one process per session (package gateway). It
// prints "listening on ADDR" (and "metrics on ADDR" with -metrics-addr) on
// stdout, logs on stderr, and drains when ctx ends: new upgrades refused,
// calls in flight finished, sockets closed with 1001, every process
// stopped and reaped.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == rlimitExecFlag {
		return gateway.ExecWithLimits(args[1:])
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

// rlimitExecFlag makes "mcpws serve" the gateway's limits helper
// (gateway.ExecWithLimits): mcpws serve --rlimit-exec as=BYTES nofile=N --
// ARGV. The gateway starts each process this way when -child-memory or
// -child-files is set.
const rlimitExecFlag = "--rlimit-exec"

// serve runs the gateway until ctx ends and every process is reaped.
func serve(ctx context.Context, cfg *serveConfig, logger *slog.Logger, stdout io.Writer) error {
	rlimit.RaiseFiles()
	verifier, err := cfg.Verifier(ctx)
	if err != nil {
		return err
	}
	gopts, err := cfg.gateway(logger)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gopts)
	if err != nil {
		return err
	}
	ws := mcpws.NewConnEndpoint(gw.Session, cfg.options(verifier, logger, gw.Hooks()))
	mux := http.NewServeMux()
	ws.Mount(mux, "/mcp")
	mux.Handle("/readyz", ws.Ready())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = gw.Shutdown(ctx)
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			_ = gw.Shutdown(ctx)
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		fmt.Fprintf(stdout, "metrics on %s\n", mln.Addr())
		mmux := http.NewServeMux()
		mmux.Handle("/metrics", gw.Metrics())
		msrv := &http.Server{Handler: mmux, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
	}
	logger.Info("mcpws serve: serving", "addr", ln.Addr().String(), "command", cfg.command[0], "auth", verifier != nil)
	srv := cfg.HTTPServer(mux)
	serveErr := ws.Serve(ctx, srv, ln)
	// The sockets are closed: every process has had its stdin closed and
	// is on its way out; the kill grace bounds how long that takes.
	sctx, cancel := context.WithTimeout(context.Background(), 2*cfg.killGrace+5*time.Second)
	defer cancel()
	_ = gw.Shutdown(sctx) // kills what is left, and says so
	return serveErr
}

// gateway returns the gateway's options from the flags.
func (c *serveConfig) gateway(logger *slog.Logger) (*gateway.Options, error) {
	o := &gateway.Options{
		Command:                 c.command,
		Env:                     c.env,
		KillGrace:               c.killGrace,
		MaxProcesses:            c.maxChildren,
		MaxProcessesPerIdentity: c.maxChildrenID,
		MaxMessageBytes:         c.maxLineBytes,
		MemoryLimit:             c.childMemory,
		FilesLimit:              c.childFiles,
		Policy:                  c.policy,
		Logger:                  logger,
	}
	if c.audit {
		o.Audit = &audit.Options{Logger: logger}
	}
	if len(c.envFromClaim) > 0 {
		o.EnvFromClaim = map[string]string{}
		for _, ce := range c.envFromClaim {
			o.EnvFromClaim[ce.name] = ce.claim
		}
	}
	if o.MemoryLimit > 0 || o.FilesLimit > 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding this executable for the process limits: %w", err)
		}
		o.LimitsHelper = []string{self, "serve", rlimitExecFlag}
	}
	return o, nil
}

// options assembles the mcpws stack from the flags.
func (c *serveConfig) options(v auth.TokenVerifier, logger *slog.Logger, hooks *wsmcp.Hooks) *mcpws.Options {
	return c.Options(v, logger, &wsmcp.HandlerOptions{Hooks: hooks, IdleTimeout: c.idleTimeout, MaxLifetime: c.maxLifetime})
}
