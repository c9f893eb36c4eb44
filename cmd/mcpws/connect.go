package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mcpws/mcpws/wsmcp"
)

const connectUsage = `usage: mcpws connect [flags] URL

Relays MCP between stdin/stdout (newline-delimited JSON-RPC, as stdio MCP
servers speak it) and the WebSocket endpoint URL (ws:// or wss://).
Messages pass unchanged; logs go to stderr. Exit status: 0 when stdin
closes, 1 when the connection fails or ends, 2 on a usage error.

Flags:
`

// connectConfig is what the flags of "mcpws connect" say.
type connectConfig struct {
	url          string
	header       headerFlags
	tokenEnv     string
	tokenCmd     string
	tokenTimeout time.Duration
	reconnect    bool
	attempts     int
	maxElapsed   time.Duration
	replayBytes  int
	maxMessage   int64
	pingInterval time.Duration
	logLevel     slog.Level
	logLevelSet  bool // --log-level given; else see defaultLogLevel
}

// runConnect runs "mcpws connect".
func runConnect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, code := parseConnect(args, stderr)
	if cfg == nil {
		return code
	}
	if !cfg.logLevelSet {
		cfg.logLevel = defaultLogLevel(stdin)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	t, err := cfg.transport(logger)
	if err != nil {
		fmt.Fprintf(stderr, "mcpws connect: %v\n", err)
		return 2
	}
	return bridge(ctx, t, cfg, stdin, stdout, stderr, logger)
}

// parseConnect reads the flags; the URL may come before or after them. It
// returns nil and the exit code when the command is not to run.
func parseConnect(args []string, stderr io.Writer) (*connectConfig, int) {
	cfg := &connectConfig{}
	fs := flag.NewFlagSet("mcpws connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, connectUsage)
		fs.PrintDefaults()
	}
	fs.Var(&cfg.header, "header", "`Name: value` header sent with every handshake (repeatable); prefer --token-env or --token-cmd for credentials")
	fs.StringVar(&cfg.tokenEnv, "token-env", "", "environment `VAR`iable holding a bearer token, sent as Authorization: Bearer")
	fs.StringVar(&cfg.tokenCmd, "token-cmd", "", "`command` run through the shell before every dial (and redial); its trimmed output is the bearer token")
	fs.DurationVar(&cfg.tokenTimeout, "token-timeout", 30*time.Second, "how long --token-cmd may run")
	fs.BoolVar(&cfg.reconnect, "reconnect", true, "redial when the connection drops, and resume the session if the server allows it (--reconnect=false: a drop ends the bridge)")
	fs.IntVar(&cfg.attempts, "reconnect-attempts", 10, "dials per outage before giving up")
	fs.DurationVar(&cfg.maxElapsed, "reconnect-timeout", time.Minute, "how long an outage may last before giving up")
	fs.IntVar(&cfg.replayBytes, "replay-bytes", 4<<20, "bytes of messages kept until the server acknowledges them, for resumption")
	fs.Int64Var(&cfg.maxMessage, "max-message", wsmcp.DefaultServerReadLimit, "largest message, in bytes, in either direction (the default is what an mcpws server reads)")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", 0, "WebSocket ping interval (0: 25s)")
	fs.Func("log-level", "log `level` on stderr: debug, info, warn or error (default: warn when a host started the bridge, info when stdin is a terminal)", func(s string) error {
		cfg.logLevelSet = true
		return cfg.logLevel.UnmarshalText([]byte(s))
	})

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "mcpws connect: want one URL, got %d arguments\n\n", len(positional))
		fs.Usage()
		return nil, 2
	}
	cfg.url = positional[0]
	if err := cfg.check(); err != nil {
		fmt.Fprintf(stderr, "mcpws connect: %v\n", err)
		return nil, 2
	}
	return cfg, 0
}

// check refuses contradictory or malformed settings.
func (cfg *connectConfig) check() error {
	if cfg.header.err != nil {
		return cfg.header.err
	}
	u, err := url.Parse(cfg.url)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		// Not quoted: a URL may carry a token in its query.
		return errors.New("the URL must be ws://host/path or wss://host/path")
	}
	sources := 0
	if cfg.tokenEnv != "" {
		sources++
	}
	if cfg.tokenCmd != "" {
		sources++
	}
	if cfg.header.h.Get("Authorization") != "" {
		sources++
	}
	if sources > 1 {
		return errors.New("give one credential: --token-env, --token-cmd or --header 'Authorization: …'")
	}
	if cfg.maxMessage <= 0 {
		return errors.New("--max-message must be positive")
	}
	return nil
}

// transport builds the client transport the flags describe.
func (cfg *connectConfig) transport(logger *slog.Logger) (*wsmcp.ClientTransport, error) {
	header := cfg.header.h.Clone()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", userAgent())
	}
	t := &wsmcp.ClientTransport{
		ConnOptions: wsmcp.ConnOptions{Logger: logger, ReadLimit: cfg.maxMessage, PingInterval: cfg.pingInterval},
		URL:         cfg.url,
		Header:      header,
	}
	switch {
	case cfg.tokenEnv != "":
		token := os.Getenv(cfg.tokenEnv)
		if token == "" {
			return nil, fmt.Errorf("--token-env %s: the variable is not set or empty", cfg.tokenEnv)
		}
		if err := checkToken(token); err != nil {
			return nil, fmt.Errorf("--token-env %s: %w", cfg.tokenEnv, err)
		}
		t.TokenSource = func(context.Context) (string, error) { return token, nil }
	case cfg.tokenCmd != "":
		tc := &tokenCommand{line: cfg.tokenCmd, timeout: cfg.tokenTimeout}
		t.TokenSource = tc.token
	}
	if cfg.reconnect {
		t.Reconnect = &wsmcp.ReconnectOptions{
			MaxAttempts:    cfg.attempts,
			MaxElapsed:     cfg.maxElapsed,
			MaxReplayBytes: cfg.replayBytes,
			Disconnected: func(err error) {
				logger.Warn("mcpws connect: connection dropped; reconnecting", "error", err)
			},
		}
	}
	if u, _ := url.Parse(cfg.url); u.Scheme == "ws" && !loopback(u.Hostname()) && (t.TokenSource != nil || len(cfg.header.h) > 0) {
		logger.Warn("mcpws connect: credentials over ws:// travel in clear text; use wss://", "host", u.Hostname())
	}
	return t, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
