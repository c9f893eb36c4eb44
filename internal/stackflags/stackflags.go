// Package stackflags is the command line of the secure stack, shared by the
// mcpws command's serve and examples/everything, so that a flag has one
// name, one meaning and one default in both: the listener, the Origin and
// Host allow-lists, JWT authentication, rates, caps, keepalive, resumption
// and drain.
package stackflags

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

// Flags holds the values of the shared flags.
type Flags struct {
	Addr           string
	Origins        string
	Hosts          string
	JWKSURL        string
	Audience       string
	Issuer         string
	Scopes         string
	Rate           float64
	MaxConnsPerID  int
	MaxConns       int
	UpgradesPerIP  int
	UpgradesPerID  int
	MaxHeaderBytes int
	PingInterval   time.Duration
	PongTimeout    time.Duration
	Resume         time.Duration
	DrainDelay     time.Duration
	DrainTimeout   time.Duration
	Transports     string
	HTTPIdle       time.Duration

	// Secret is the HS256 secret: JWT_SECRET, read by Check, unless the
	// program set it from a flag of its own.
	Secret string
	// Claims names the token claims the verifier passes on in
	// TokenInfo.Extra (middleware.JWTOptions.Claims): a program with a
	// policy sets it to the policy's Claim. No flag sets it.
	Claims []string
}

// Register defines the shared flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&f.Origins, "origins", "", "comma-separated browser Origins allowed to connect, e.g. http://localhost:3000; none means browsers are refused")
	fs.StringVar(&f.Hosts, "hosts", "", "comma-separated Host values accepted (DNS rebinding guard), e.g. 127.0.0.1:8080,localhost:8080")
	fs.StringVar(&f.JWKSURL, "jwks-url", "", "JWKS URL of the identity provider: turns on JWT authentication")
	fs.StringVar(&f.Audience, "audience", "", "resource identifier tokens must be issued for (aud); required with JWT_SECRET or -jwks-url")
	fs.StringVar(&f.Issuer, "issuer", "", "required token issuer (iss), also published as the authorization server")
	fs.StringVar(&f.Scopes, "scopes", "", "comma-separated scopes every token must carry")
	fs.Float64Var(&f.Rate, "rate", 0, fmt.Sprintf("messages per second per connection (0: the library default, %d; -1: unlimited)", wsmcp.DefaultMessageRate))
	fs.IntVar(&f.MaxConnsPerID, "max-conns-per-user", 0, fmt.Sprintf("concurrent connections per identity (0: library default, %d)", mcpws.DefaultMaxConnsPerIdentity))
	fs.IntVar(&f.MaxConns, "max-conns", 0, fmt.Sprintf("concurrent connections in total (0: library default, %d)", mcpws.DefaultMaxConns))
	fs.IntVar(&f.UpgradesPerIP, "upgrades-per-ip", 600, "WebSocket upgrades per client IP per minute (-1: unlimited)")
	fs.IntVar(&f.UpgradesPerID, "upgrades-per-user", 0, fmt.Sprintf("WebSocket upgrades per identity per minute (0: library default, %d; -1: unlimited)", mcpws.DefaultUpgradesPerIdentity))
	fs.IntVar(&f.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block accepted; larger gets 431")
	fs.DurationVar(&f.PingInterval, "ping-interval", 0, fmt.Sprintf("WebSocket ping interval (0: library default, %v)", wsmcp.DefaultPingInterval))
	fs.DurationVar(&f.PongTimeout, "pong-timeout", 0, fmt.Sprintf("how long a ping may go unanswered (0: library default, %v)", wsmcp.DefaultPongTimeout))
	fs.DurationVar(&f.Resume, "resume", 0, "keep 2025 sessions of reconnecting clients alive this long after their socket drops (0: off)")
	fs.DurationVar(&f.DrainDelay, "drain-delay", 0, "on SIGTERM, keep serving with /readyz at 503 this long before draining (a few readiness probe periods)")
	fs.DurationVar(&f.DrainTimeout, "drain-timeout", 0, fmt.Sprintf("on SIGTERM, how long calls in flight may take to finish (0: library default, %v)", mcpws.DefaultDrainTimeout))
	fs.StringVar(&f.Transports, "transports", "ws,http", "what /mcp serves: ws,http (both), ws (WebSocket only) or http (Streamable HTTP only)")
	fs.DurationVar(&f.HTTPIdle, "http-idle-timeout", 0, fmt.Sprintf("end a Streamable HTTP session after this long without a request from its client (0: library default, %v; -1s: never)", mcpws.DefaultHTTPIdleTimeout))
}

// transports maps -transports to the option.
var transports = map[string]mcpws.Transports{
	"ws,http": mcpws.WebSocketAndHTTP, "http,ws": mcpws.WebSocketAndHTTP, "ws": mcpws.WebSocketOnly, "http": mcpws.HTTPOnly,
}

// Check validates the shared flags once fs is parsed, and reads
// JWT_SECRET through lookupEnv unless Secret is set. A secret or a JWKS
// URL given but empty is an error: "$JWT_SECRET" with the variable unset
// must not serve without authentication.
func (f *Flags) Check(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	if f.Secret == "" {
		secret, set := lookupEnv("JWT_SECRET")
		if set && secret == "" {
			return errors.New("JWT_SECRET is set but empty: give the secret, or unset it to serve without authentication")
		}
		f.Secret = secret
	}
	jwksGiven := false
	fs.Visit(func(fl *flag.Flag) { jwksGiven = jwksGiven || fl.Name == "jwks-url" })
	if _, ok := transports[f.Transports]; !ok {
		return fmt.Errorf("-transports %q: want ws,http, ws or http", f.Transports)
	}
	switch {
	case jwksGiven && f.JWKSURL == "":
		return errors.New("-jwks-url is empty: give the URL, or leave the flag out to serve without authentication")
	case f.Authenticated() && f.Audience == "":
		return errors.New("-audience is required with JWT_SECRET or -jwks-url")
	case f.Secret != "" && f.JWKSURL != "":
		return errors.New("JWT_SECRET and -jwks-url are exclusive")
	}
	return nil
}

// Authenticated reports whether a token source is configured.
func (f *Flags) Authenticated() bool { return f.Secret != "" || f.JWKSURL != "" }

// Verifier builds the JWT verifier, or nil without authentication.
func (f *Flags) Verifier(ctx context.Context) (auth.TokenVerifier, error) {
	if !f.Authenticated() {
		return nil, nil
	}
	opts := middleware.JWTOptions{Audience: f.Audience, Issuer: f.Issuer, Claims: f.Claims}
	if f.Secret != "" {
		opts.Algorithm = "HS256"
		opts.Key = []byte(f.Secret)
	} else {
		opts.JWKSURL = f.JWKSURL
	}
	return middleware.NewJWTVerifier(ctx, opts)
}

// Options assembles the stack's options from the flags; transport holds
// the program's own transport options (hooks, timeouts), or is nil.
func (f *Flags) Options(v auth.TokenVerifier, logger *slog.Logger, transport *wsmcp.HandlerOptions) *mcpws.Options {
	var t wsmcp.HandlerOptions
	if transport != nil {
		t = *transport
	}
	t.Logger, t.PingInterval, t.PongTimeout = logger, f.PingInterval, f.PongTimeout
	if f.Resume > 0 {
		t.Resumption = &wsmcp.ResumptionOptions{GracePeriod: f.Resume}
	}
	if f.Rate != 0 {
		t.MessageRate = rate.Limit(f.Rate)
	}
	o := &mcpws.Options{
		Transport:           &t,
		Origin:              middleware.OriginOptions{AllowedOrigins: List(f.Origins), AllowedHosts: List(f.Hosts)},
		Verifier:            v,
		Resource:            f.Audience,
		Scopes:              List(f.Scopes),
		MaxConnsPerIdentity: f.MaxConnsPerID,
		MaxConns:            f.MaxConns,
		UpgradesPerIP:       f.UpgradesPerIP,
		UpgradesPerIdentity: f.UpgradesPerID,
		Logger:              logger,
		DrainDelay:          f.DrainDelay,
		DrainTimeout:        f.DrainTimeout,
		Transports:          transports[f.Transports],
		HTTP:                mcpws.HTTPOptions{IdleTimeout: f.HTTPIdle},
	}
	if f.Issuer != "" {
		o.AuthorizationServers = []string{f.Issuer}
	}
	return o
}

// HTTPServer returns the server to mount the endpoint's router h on.
func (f *Flags) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: f.MaxHeaderBytes}
}

// List splits a comma-separated flag value.
func List(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
