package mcpws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/internal/bound"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// Defaults for the zero values of [Options].
const (
	DefaultUpgradesPerIP       = 60 // per minute
	DefaultUpgradesPerIdentity = 30 // per minute
	DefaultMaxConnsPerIdentity = 32
	DefaultMaxConns            = 20000
)

// Options configures [New]. A nil *Options serves without authentication,
// refusing every browser Origin.
type Options struct {
	// Transports says what the endpoint serves at its path: WebSocket and
	// the go-sdk's Streamable HTTP (the zero value), or one of them.
	Transports Transports
	// Transport configures the WebSocket transport (limits, keepalive,
	// message rate), with the same defaults as wsmcp.NewHandler. Its
	// ReadLimit also bounds an HTTP request's body, its MessageTimeout how
	// long a request's body may take to arrive, its MessageRate the HTTP
	// requests of an identity, and its ForwardHeaders what handlers see of
	// an HTTP request's headers.
	Transport *wsmcp.HandlerOptions
	// HTTP configures Streamable HTTP.
	HTTP HTTPOptions

	// Origin is the Origin and Host allow-list. With no AllowedOrigins,
	// every request that carries an Origin (every browser) is refused.
	Origin middleware.OriginOptions

	// Verifier turns on authentication (see middleware.NewJWTVerifier).
	// Nil means none: only for endpoints that need no identity.
	Verifier auth.TokenVerifier
	// Resource is this endpoint's resource identifier, the audience that
	// tokens must carry, e.g. "https://mcp.example.com/mcp", published in
	// the protected resource metadata (whose URL every 401 names). Required
	// with a Verifier: New never calls the Verifier to learn it, since a
	// verifier may read the request or make a network call. With
	// middleware.NewJWTVerifier, set it to the same value as
	// JWTOptions.Audience.
	Resource string
	// AuthorizationServers and Scopes are published in the protected
	// resource metadata; Scopes are also required of every token. The MCP
	// authorization spec requires at least one authorization server with
	// a Verifier: New logs a warning without one.
	AuthorizationServers []string
	Scopes               []string
	// AllowQueryToken accepts access_token in the query string.
	AllowQueryToken bool

	// Policy decides what each caller may do inside a session (see package
	// policy). New adds its middleware to every server getServer returns,
	// so that it holds over both transports, lists its scopes in the
	// protected resource metadata, and answers a Streamable HTTP request
	// that it refuses for want of scopes with 403 and
	// WWW-Authenticate: Bearer error="insufficient_scope", naming the
	// scopes a new token needs. The rates of its rules count on
	// SharedLimits' counter when it is set. NewConnEndpoint does not
	// enforce one yet, and panics with one.
	Policy *policy.Policy
	// Audit, when set, records every tool call, resource read and prompt
	// get of New's sessions, over both transports, refusals of the Policy
	// included (see audit.Record): to the log by default, or to a sink of
	// the program's. NewConnEndpoint does not record a relay's requests.
	Audit *audit.Options

	// Upgrade rates, per minute; zero means the defaults, negative means
	// no limit.
	UpgradesPerIP       int
	UpgradesPerIdentity int
	// Connection caps; zero means the defaults, negative means no limit.
	MaxConnsPerIdentity int
	MaxConns            int
	// SharedLimits holds the connection caps and upgrade rates above in
	// state that every replica of the endpoint shares, so that they hold
	// for the endpoint, not per process (see docs/scaling.md). Nil means
	// this process only: N replicas admit N times the caps and rates.
	SharedLimits SharedLimits

	// Logger receives connection, refusal and close events (see
	// docs/observability.md). Nil logs refusals (a refused token with its
	// reason, say) and configuration warnings to slog.Default(), and
	// discards the rest.
	Logger *slog.Logger

	// DrainDelay is how long [Endpoint.Serve] keeps serving, unready, once its
	// context ends and before it stops accepting: long enough for a load
	// balancer's readiness probe to take the instance out (a few probe
	// periods). Zero means none, right when nothing probes readiness.
	DrainDelay time.Duration
	// DrainTimeout bounds the drain of [Endpoint.Serve] after the delay: calls
	// still running then are cut and their sockets dropped. Zero means
	// DefaultDrainTimeout. DrainDelay plus DrainTimeout must fit in the
	// orchestrator's grace period (30 s in Kubernetes by default), or the
	// process is killed mid-drain.
	DrainTimeout time.Duration
}

// SharedLimits is where the replicas of one endpoint keep the counts
// behind its caps and rates (redismcpws.Limits is one, on Redis).
type SharedLimits interface {
	// Leases returns the connection leases for the caps.
	Leases() middleware.Leases
	// RateCounter returns the counter of the upgrade rates, by IP and by
	// identity: their keys differ.
	RateCounter() middleware.RateCounter
}

// Endpoint is the assembled endpoint: an http.Handler for the MCP route,
// plus the metadata document, readiness and drain.
type Endpoint struct {
	ws       *wsmcp.Handler
	http     *httpSide // nil when Streamable HTTP is not served
	handler  http.Handler
	metadata http.Handler
	draining atomic.Bool

	logger       *slog.Logger
	drainDelay   time.Duration
	drainTimeout time.Duration
}

// New assembles the stack around a wsmcp.Handler serving getServer, in this
// order: Origin → upgrade rate per IP → authentication → upgrade rate per
// identity → connection caps → transport. It panics on impossible
// configuration: a Verifier without a Resource. It never calls the
// Verifier.
func New(getServer func(*http.Request) *mcp.Server, opts *Options) *Endpoint {
	if getServer == nil {
		panic("mcpws.New needs a getServer function")
	}
	if opts != nil && (opts.Audit != nil || opts.Policy != nil) {
		// The audit first, so outermost: it sees the policy's refusals.
		var receiving, sending []mcp.Middleware
		if opts.Audit != nil {
			receiving = append(receiving, auditMiddleware(opts.Audit.Record))
		}
		if p := opts.Policy; p != nil {
			var rates middleware.RateCounter
			if opts.SharedLimits != nil {
				rates = opts.SharedLimits.RateCounter()
			}
			receiving = append(receiving, p.Middleware(rates))
			sending = append(sending, p.SendingMiddleware())
		}
		getServer = withSetup(getServer, func(s *mcp.Server) {
			s.AddReceivingMiddleware(receiving...)
			s.AddSendingMiddleware(sending...)
		})
	}
	return assemble(opts, func(hopts *wsmcp.HandlerOptions) *wsmcp.Handler { return wsmcp.NewHandler(getServer, hopts) },
		func(o *Options, hopts *wsmcp.HandlerOptions) *httpSide {
			h := newHTTPSide(getServer, o.HTTP, hopts)
			h.policy, h.metadataURL = o.Policy, metadataURL(o.Resource)
			if o.Audit != nil {
				h.audit = o.Audit.Record
			}
			return h
		})
}

// NewConnEndpoint is [New] for a program that serves each session's
// connection itself (see wsmcp.NewConnHandler): a gateway relaying sessions
// to child processes, say. getServe runs after authentication and the
// caps, so the identity is in the request's context (see
// wsmcp.TokenInfoFromContext); it may refuse with a *wsmcp.Refusal.
//
// Over Streamable HTTP, each 2025-x session is a go-sdk
// StreamableServerTransport whose connection getServe's function serves,
// as it serves a WebSocket connection; it offers the same text methods to
// a relay. go-sdk v1.8.0 lets such a session speak neither 2026-07-28
// (those requests get error -32022 and the 2025 versions, and clients fall
// back to initialize) nor methods outside the specification, and always
// answers with an event stream. A notification or request of the server's
// goes on the stream of the call it belongs to: the call with its progress
// token, else the one call running, else the session's GET stream.
func NewConnEndpoint(getServe func(*http.Request) (wsmcp.ServeConnFunc, error), opts *Options) *Endpoint {
	if getServe == nil {
		panic("mcpws.NewConnEndpoint needs a getServe function")
	}
	if opts != nil && opts.Policy != nil {
		panic("mcpws.NewConnEndpoint does not enforce Options.Policy: a relay's messages are not an mcp.Server's")
	}
	return assemble(opts, func(hopts *wsmcp.HandlerOptions) *wsmcp.Handler { return wsmcp.NewConnHandler(getServe, hopts) },
		func(o *Options, hopts *wsmcp.HandlerOptions) *httpSide { return newRelaySide(getServe, o.HTTP, hopts) })
}

// noResourcePanic is what New panics with for a Verifier without a Resource.
const noResourcePanic = "mcpws.New: Options.Verifier needs Options.Resource, the resource identifier " +
	"that tokens must be issued for (the verifier's audience, e.g. \"https://mcp.example.com/mcp\")"

// assemble builds the stack of New around the transport that newHandler
// returns for the resolved handler options.
func assemble(opts *Options, newHandler func(*wsmcp.HandlerOptions) *wsmcp.Handler, newHTTP func(*Options, *wsmcp.HandlerOptions) *httpSide) *Endpoint {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Verifier != nil && o.Resource == "" {
		panic(noResourcePanic)
	}
	var hopts wsmcp.HandlerOptions
	if o.Transport != nil {
		hopts = *o.Transport
	}
	if hopts.Logger == nil {
		hopts.Logger = o.Logger
	}
	s := &Endpoint{ws: newHandler(&hopts)}
	if newHTTP != nil && o.Transports != WebSocketOnly {
		s.http = newHTTP(&o, &hopts)
	}

	h := s.dispatch(o.Transports, httpMessageRate(o.Verifier != nil, hopts.MessageRate))
	caps := middleware.ConnectionLimitOptions{
		PerIdentity: bound.Resolve(o.MaxConnsPerIdentity, DefaultMaxConnsPerIdentity),
		Total:       bound.Resolve(o.MaxConns, DefaultMaxConns),
	}
	var counter []middleware.RateOption
	if o.SharedLimits != nil {
		caps.Leases = o.SharedLimits.Leases()
		counter = []middleware.RateOption{middleware.WithRateCounter(o.SharedLimits.RateCounter())}
	}
	h = onlyOpening(middleware.ConnectionLimit(caps))(h)
	if o.Verifier != nil {
		if n := bound.Resolve(o.UpgradesPerIdentity, DefaultUpgradesPerIdentity); n > 0 {
			h = onlyOpening(middleware.RateLimitByIdentity(n, time.Minute, counter...))(h)
		}
		h = middleware.Authenticate(middleware.AuthOptions{
			Verifier:            o.Verifier,
			ResourceMetadataURL: metadataURL(o.Resource),
			Scopes:              o.Scopes,
			AllowQueryToken:     o.AllowQueryToken,
			Logger:              o.Logger,
		})(h)
		scopes := o.Scopes
		if o.Policy != nil {
			scopes = slices.Compact(slices.Sorted(slices.Values(slices.Concat(o.Scopes, o.Policy.Scopes()))))
		}
		s.metadata = middleware.ProtectedResourceMetadata(o.Resource, o.AuthorizationServers, scopes)
	}
	if n := bound.Resolve(o.UpgradesPerIP, DefaultUpgradesPerIP); n > 0 {
		h = onlyOpening(middleware.RateLimitByIP(n, time.Minute, counter...))(h)
	}
	if s.http != nil {
		h = preflight(h)
	}
	if o.Origin.Logger == nil {
		o.Origin.Logger = o.Logger
	}
	h = middleware.Origin(o.Origin)(h)
	logger, warnings := o.Logger, o.Logger
	if logger == nil {
		// What an operator must see even without a logger of their own.
		logger, warnings = slog.New(slog.DiscardHandler), slog.Default()
	}
	if o.Verifier != nil && len(o.AuthorizationServers) == 0 {
		// The MCP authorization spec requires the metadata to name at
		// least one; without it, a client that follows the spec cannot
		// find where to get a token (Claude Code tries OAuth at the
		// resource's own origin, and gives up).
		warnings.Warn("mcpws: Options.AuthorizationServers is empty: the protected resource metadata names no authorization server, so MCP clients cannot discover where to get a token; set it to your token issuer", "resource", o.Resource)
	}
	var refused func(*http.Request, int, string)
	if hopts.Hooks != nil {
		refused = hopts.Hooks.Refused
	}
	h = bodyDeadline(bound.Resolve(hopts.MessageTimeout, wsmcp.DefaultMessageTimeout))(h)
	s.handler = observe(h, warnings, refused)
	s.logger, s.drainDelay, s.drainTimeout = logger, o.DrainDelay, o.DrainTimeout
	if s.drainTimeout <= 0 {
		s.drainTimeout = DefaultDrainTimeout
	}
	return s
}

// ServeHTTP serves the MCP endpoint.
func (s *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Shutdown drains the transport (see wsmcp.Handler.Shutdown) and turns the
// readiness handler unready. It does not stop the HTTP server the endpoint
// is mounted on: [Endpoint.Serve] does both, in the right order.
func (s *Endpoint) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.http == nil {
		return s.ws.Shutdown(ctx)
	}
	var wg sync.WaitGroup
	var wsErr, httpErr error
	wg.Go(func() { wsErr = s.ws.Shutdown(ctx) })
	wg.Go(func() { httpErr = s.http.shutdown(ctx) })
	wg.Wait()
	return errors.Join(wsErr, httpErr)
}

// Connections reports the number of open WebSocket connections (see
// [wsmcp.Handler.Connections]).
func (s *Endpoint) Connections() int { return s.ws.Connections() }

// HTTPSessions reports the number of live 2025-x Streamable HTTP sessions.
func (s *Endpoint) HTTPSessions() int {
	if s.http == nil {
		return 0
	}
	return s.http.sessionCount()
}

// Ready is a readiness probe: 200 while serving, 503 once the drain began
// (Shutdown called, or the context of Serve ended), so that a load balancer
// sends no new connections to an instance that is going away.
func (s *Endpoint) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}

// Metadata returns the RFC 9728 protected resource metadata handler, or nil
// without authentication.
func (s *Endpoint) Metadata() http.Handler { return s.metadata }

// Router is what Mount needs of a router: chi.Router and http.ServeMux
// both have it.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the endpoint at pattern (e.g. "/mcp") and, with
// authentication, the metadata document at the root-level
// /.well-known/oauth-protected-resource and its pattern-suffixed form.
func (s *Endpoint) Mount(r Router, pattern string) {
	r.Handle(pattern, s)
	if s.metadata != nil {
		r.Handle(wellKnown, s.metadata)
		r.Handle(wellKnown+pattern, s.metadata)
	}
}

const wellKnown = "/.well-known/oauth-protected-resource"

// metadataURL is where the metadata for resource is served (RFC 9728 §3.1).
func metadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + wellKnown + strings.TrimSuffix(u.Path, "/")
}
