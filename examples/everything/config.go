package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/wsmcp"
)

// config is the command line.
type config struct {
	addr           string
	stdio          bool
	verbose        bool
	origins        string
	hosts          string
	jwtSecret      string
	jwksURL        string
	audience       string
	issuer         string
	scopes         string
	rate           float64
	maxConnsPerID  int
	maxConns       int
	upgradesPerIP  int
	upgradesPerID  int
	maxHeaderBytes int
	pingInterval   time.Duration
	pongTimeout    time.Duration
	resume         time.Duration
	debugAddr      string
	drainDelay     time.Duration
	drainTimeout   time.Duration

	redisURL      string
	redisFailOpen bool
	redisReplicas int
	redisLeaseTTL time.Duration
}

// parseFlags reads the command line, args, and the environment through
// lookupEnv; a usage error is printed on stderr. A secret that is given but
// empty is a usage error: "-jwt-secret $JWT_SECRET" with the variable unset
// must not serve without authentication.
func parseFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*config, error) {
	c := new(config)
	fs := flag.NewFlagSet("everything", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.BoolVar(&c.stdio, "stdio", false, "serve one session on stdin/stdout instead of listening (the child of mcpws serve)")
	fs.BoolVar(&c.verbose, "v", false, "log connection events")
	fs.StringVar(&c.origins, "origins", "", "comma-separated browser Origins allowed to connect, e.g. http://localhost:3000; none means browsers are refused")
	fs.StringVar(&c.hosts, "hosts", "", "comma-separated Host values accepted (DNS rebinding guard), e.g. 127.0.0.1:8080,localhost:8080")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HMAC (HS256) secret of at least 32 bytes (e.g. openssl rand -base64 32): turns on JWT authentication; prefer the JWT_SECRET environment variable (a flag shows in ps)")
	fs.StringVar(&c.jwksURL, "jwks-url", "", "JWKS URL of the identity provider: turns on JWT authentication")
	fs.StringVar(&c.audience, "audience", "", "resource identifier tokens must be issued for (aud); required with -jwt-secret or -jwks-url")
	fs.StringVar(&c.issuer, "issuer", "", "required token issuer (iss), also published as the authorization server")
	fs.StringVar(&c.scopes, "scopes", "", "comma-separated scopes every token must carry")
	fs.Float64Var(&c.rate, "rate", 0, "messages per second per connection (0: the library default, 1000; -1: unlimited)")
	fs.IntVar(&c.maxConnsPerID, "max-conns-per-user", 0, "concurrent connections per identity (0: library default)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "concurrent connections in total (0: library default)")
	fs.IntVar(&c.upgradesPerIP, "upgrades-per-ip", 600, "WebSocket upgrades per client IP per minute (-1: unlimited)")
	fs.IntVar(&c.upgradesPerID, "upgrades-per-user", 0, "WebSocket upgrades per identity per minute (0: library default, 30; -1: unlimited)")
	fs.DurationVar(&c.pingInterval, "ping-interval", 0, "WebSocket ping interval (0: library default, 25s)")
	fs.DurationVar(&c.pongTimeout, "pong-timeout", 0, "how long a ping may go unanswered (0: library default, 10s)")
	fs.DurationVar(&c.resume, "resume", 0, "keep 2025 sessions of reconnecting clients alive this long after their socket drops (0: off)")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve pprof and expvar under /debug/ on this loopback address, e.g. 127.0.0.1:6060 (for benchmarks; never on the MCP listener)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "on SIGTERM, keep serving with /readyz at 503 this long before draining (a few readiness probe periods)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 0, "on SIGTERM, how long calls in flight may take to finish (0: library default, 15s)")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block accepted; larger gets 431")
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0: replicas with the same one share connection caps, upgrade rates, notifications and (with -resume) sessions (docs/scaling.md)")
	fs.BoolVar(&c.redisFailOpen, "redis-fail-open", false, "while Redis is unreachable, admit within this replica's share of each limit (limit / replicas) instead of refusing 503")
	fs.IntVar(&c.redisReplicas, "redis-replicas", 0, "replica count the fail-open share divides by (0: the live replicas last counted in Redis)")
	fs.DurationVar(&c.redisLeaseTTL, "redis-lease-ttl", 0, "how long a dead replica's connections still count (0: library default, 15s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	bad := func(msg string) (*config, error) {
		fmt.Fprintln(stderr, "everything: "+msg)
		return nil, errors.New(msg)
	}
	switch {
	case given["jwt-secret"] && c.jwtSecret == "":
		return bad("-jwt-secret is empty (an unset variable in -jwt-secret \"$JWT_SECRET\"?): give the secret, or leave the flag out to serve without authentication")
	case given["jwks-url"] && c.jwksURL == "":
		return bad("-jwks-url is empty: give the URL, or leave the flag out to serve without authentication")
	}
	if c.jwtSecret == "" {
		secret, set := lookupEnv("JWT_SECRET")
		if set && secret == "" {
			return bad("JWT_SECRET is set but empty: give the secret, or unset it to serve without authentication")
		}
		c.jwtSecret = secret
	}
	return c, nil
}

// authEnabled reports whether a token source was configured.
func (c *config) authEnabled() bool { return c.jwtSecret != "" || c.jwksURL != "" }

// verifier builds the JWT verifier, or nil without authentication.
func (c *config) verifier(ctx context.Context) (auth.TokenVerifier, error) {
	if !c.authEnabled() {
		return nil, nil
	}
	if c.audience == "" {
		return nil, fmt.Errorf("-audience is required with JWT_SECRET, -jwt-secret or -jwks-url")
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
func (c *config) options(v auth.TokenVerifier, logger *slog.Logger) *mcpws.Options {
	o := &mcpws.Options{
		Transport:           &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{Logger: logger, PingInterval: c.pingInterval, PongTimeout: c.pongTimeout}},
		Origin:              middleware.OriginOptions{AllowedOrigins: list(c.origins), AllowedHosts: list(c.hosts)},
		Verifier:            v,
		Resource:            c.audience,
		Scopes:              list(c.scopes),
		MaxConnsPerIdentity: c.maxConnsPerID,
		MaxConns:            c.maxConns,
		UpgradesPerIP:       c.upgradesPerIP,
		UpgradesPerIdentity: c.upgradesPerID,
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

// streamable is the go-sdk's Streamable HTTP transport behind the same
// Origin check and authentication, so that both transports are compared
// with the same work per request.
func (c *config) streamable(h http.Handler, v auth.TokenVerifier) http.Handler {
	if v != nil {
		h = auth.RequireBearerToken(v, &auth.RequireBearerTokenOptions{Scopes: list(c.scopes)})(h)
	}
	return middleware.Origin(middleware.OriginOptions{AllowedOrigins: list(c.origins), AllowedHosts: list(c.hosts)})(h)
}

func (c *config) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    c.maxHeaderBytes,
	}
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
