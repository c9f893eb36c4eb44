package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/stackflags"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
)

// config is the command line: the stack's flags, shared with mcpws serve,
// and this server's.
type config struct {
	stackflags.Flags
	stdio     bool
	verbose   bool
	debugAddr string
	sdkHTTP   bool

	policyPath string
	policy     *policy.Policy // loaded from policyPath; nil without -policy
	audit      bool

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
	c.Register(fs)
	fs.BoolVar(&c.stdio, "stdio", false, "serve one session on stdin/stdout instead of listening (the child of mcpws serve)")
	fs.BoolVar(&c.verbose, "v", false, "log connection events")
	fs.StringVar(&c.Secret, "jwt-secret", "", "HMAC (HS256) secret of at least 32 bytes (e.g. openssl rand -base64 32): turns on JWT authentication; prefer the JWT_SECRET environment variable (a flag shows in ps)")
	fs.BoolVar(&c.sdkHTTP, "sdk-http", false, "also serve the go-sdk's Streamable HTTP handler alone at /mcp-http and /mcp-http-json, behind only the Origin check and the token (the benchmark's baseline; clients use /mcp)")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve pprof and expvar under /debug/ on this loopback address, e.g. 127.0.0.1:6060 (for benchmarks; never on the MCP listener)")
	fs.StringVar(&c.policyPath, "policy", "", "JSON policy file: what each caller may list, call, read and get, by its token's scopes and claim values (docs/authorization.md; see policy.example.json)")
	fs.BoolVar(&c.audit, "audit", false, "log one record (\"mcpws: audit\") per tool call, resource read and prompt get: who, what, and how it ended, refusals included")
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0: replicas with the same one share connection caps, upgrade rates, notifications and (with -resume) sessions (docs/scaling.md)")
	fs.BoolVar(&c.redisFailOpen, "redis-fail-open", false, "while Redis is unreachable, admit within this replica's share of each limit (limit / replicas) instead of refusing 503")
	fs.IntVar(&c.redisReplicas, "redis-replicas", 0, "replica count the fail-open share divides by (0: the live replicas last counted in Redis)")
	fs.DurationVar(&c.redisLeaseTTL, "redis-lease-ttl", 0, "how long a dead replica's connections still count (0: library default, 15s)")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	bad := func(msg string) (*config, error) {
		fmt.Fprintln(stderr, "everything: "+msg)
		return nil, errors.New(msg)
	}
	secretGiven := false
	fs.Visit(func(f *flag.Flag) { secretGiven = secretGiven || f.Name == "jwt-secret" })
	if secretGiven && c.Secret == "" {
		return bad("-jwt-secret is empty (an unset variable in -jwt-secret \"$JWT_SECRET\"?): give the secret, or leave the flag out to serve without authentication")
	}
	if err := c.Check(fs, lookupEnv); err != nil {
		return bad(err.Error())
	}
	if c.stdio && (c.policyPath != "" || c.audit) {
		return bad("-policy and -audit apply to the listener, not to -stdio")
	}
	if c.sdkHTTP && c.policyPath != "" {
		return bad("-sdk-http serves the server at /mcp-http outside the stack, where the policy's HTTP refusals do not hold: use one or the other")
	}
	if c.policyPath != "" {
		if c.policy, err = policy.Load(c.policyPath); err != nil {
			return bad(err.Error())
		}
		// The verifier passes on the claim whose values the rules require.
		if claim := c.policy.Claim(); claim != "" {
			c.Claims = []string{claim}
		}
	}
	return c, nil
}

// streamable is the go-sdk's Streamable HTTP transport behind the same
// Origin check and authentication, so that both transports are compared
// with the same work per request.
func (c *config) streamable(h http.Handler, v auth.TokenVerifier) http.Handler {
	if v != nil {
		h = auth.RequireBearerToken(v, &auth.RequireBearerTokenOptions{Scopes: stackflags.List(c.Scopes)})(h)
	}
	return middleware.Origin(middleware.OriginOptions{AllowedOrigins: stackflags.List(c.Origins), AllowedHosts: stackflags.List(c.Hosts)})(h)
}
