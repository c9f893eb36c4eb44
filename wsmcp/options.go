package wsmcp

import (
	"context"
	"log/slog"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"
)

// Defaults for the zero values of [HandlerOptions] and [ClientTransport].
const (
	// DefaultServerReadLimit bounds one inbound message on the server, the
	// same as the SDK's Streamable HTTP request body limit.
	DefaultServerReadLimit = 4 << 20
	// DefaultClientReadLimit bounds one inbound message on the client.
	DefaultClientReadLimit = 16 << 20
	// DefaultPingInterval is under the 60 s idle timeout common to proxies
	// and load balancers.
	DefaultPingInterval = 25 * time.Second
	// DefaultPongTimeout is how long a ping may go unanswered.
	DefaultPongTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one frame write, and how long a full
	// outbound queue may stay full.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMessageTimeout bounds how long a message may take to arrive
	// once its first frame has.
	DefaultMessageTimeout = 30 * time.Second
	// DefaultMaxQueueBytes bounds the bytes waiting to be written on one
	// connection.
	DefaultMaxQueueBytes = 4 << 20
	// DefaultMaxInFlight bounds the requests running at once on one
	// server connection.
	DefaultMaxInFlight = 128
	// DefaultMaxInFlightBytes bounds the bytes of the requests running at
	// once on one server connection: four messages at the default read
	// limit.
	DefaultMaxInFlightBytes = 16 << 20
	// DefaultMaxInFlightBytesPerIdentity bounds the same across all the
	// connections and parked sessions of one identity.
	DefaultMaxInFlightBytesPerIdentity = 64 << 20
	// DefaultDialTimeout bounds a client's handshake: TCP, TLS, the
	// upgrade, and the answer to a resume request.
	DefaultDialTimeout = 10 * time.Second
	// DefaultMessageRate and DefaultByteRate bound what one connection may
	// send per second: far above what an agent sends, low enough that a
	// flood is cut off.
	DefaultMessageRate = 1000     // messages per second
	DefaultByteRate    = 16 << 20 // bytes per second
)

// ConnOptions are the settings of one WebSocket connection that the server
// ([HandlerOptions]) and the client ([ClientTransport]) share: both embed
// it. The zero value of each field is its default.
type ConnOptions struct {
	// Logger receives connection events. Nil discards them.
	Logger *slog.Logger

	// ReadLimit bounds the size of one inbound message in bytes; a larger
	// one closes the socket with 1009. Zero means DefaultServerReadLimit on
	// the server and DefaultClientReadLimit on the client; negative means
	// no limit, which lets the peer exhaust memory.
	ReadLimit int64

	// PingInterval is the time between WebSocket pings. Zero means
	// DefaultPingInterval; negative disables pings, and with them the
	// detection of half-open connections.
	PingInterval time.Duration

	// PongTimeout is how long a ping may go unanswered before the socket is
	// dropped. Zero means DefaultPongTimeout.
	PongTimeout time.Duration

	// WriteTimeout bounds one frame write and how long Write may wait for
	// room in a full outbound queue. A peer that does not read for that long
	// is dropped. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration

	// MaxQueueBytes bounds the bytes queued for writing on one connection.
	// Zero means DefaultMaxQueueBytes. A single message larger than the bound
	// is still sent, alone.
	MaxQueueBytes int

	// CompressionMode enables permessage-deflate. The default, disabled, is
	// right for most deployments: a deflate writer costs about 1.2 MB per
	// connection, and compressing secrets next to attacker-chosen text opens
	// CRIME-style attacks.
	CompressionMode websocket.CompressionMode
}

// HandlerOptions configures a [Handler]. The zero value, and a nil
// *HandlerOptions, are good defaults.
type HandlerOptions struct {
	// ConnOptions are the settings of each connection: logger, read
	// limit, keepalive, write timeout, outbound queue, compression.
	ConnOptions

	// MessageTimeout bounds how long a message may take to arrive after its
	// first frame (a slow-loris guard). Zero means DefaultMessageTimeout;
	// negative disables it.
	MessageTimeout time.Duration

	// MaxInFlight bounds the requests that one connection may have running
	// at once; further requests are answered with CodeTooManyInFlight. Zero
	// means DefaultMaxInFlight; negative means no bound.
	MaxInFlight int

	// MaxInFlightBytes bounds the bytes of the requests that one connection
	// (or resumable session) has running at once, counted as they arrived:
	// the SDK keeps a request, _meta included, for as long as its call
	// runs. A request that would pass the bound is answered with
	// CodeTooManyInFlight; one larger than the bound is admitted only when
	// nothing else is running. Zero means DefaultMaxInFlightBytes; negative
	// means no bound, which lets one client hold MaxInFlight × ReadLimit.
	MaxInFlightBytes int64

	// MaxInFlightBytesPerIdentity bounds the same across all the
	// connections and parked sessions of one verified identity (issuer and
	// subject), so that opening more sockets buys a caller no more memory.
	// Connections without an identity are bounded per connection only.
	// Zero means DefaultMaxInFlightBytesPerIdentity; negative means no
	// bound.
	MaxInFlightBytesPerIdentity int64

	// MessageRate limits the messages one connection may send, per second,
	// with a token bucket of MessageBurst (zero means MessageRate, at least
	// 1). Every message counts: requests, notifications, responses, and
	// messages that are not valid JSON-RPC. Zero means DefaultMessageRate;
	// negative means no limit.
	//
	// ByteRate limits their bytes per second in the same way, with a bucket
	// of ByteBurst (zero means the larger of ByteRate and the read limit, so
	// that one message of any allowed size can pass). Zero means
	// DefaultByteRate; negative means no limit.
	//
	// Over either rate, a request is answered with CodeRateLimited, a
	// notification is dropped (but notifications/cancelled and
	// notifications/initialized, which must never be lost, are delivered
	// when they are under 16 KiB), a response is delivered, and an invalid
	// message goes unanswered. Each of these is a strike; after
	// MaxRateStrikes (zero means max(10, MessageBurst)) with no pause of a
	// second between them, the socket is closed with 1008. Messages within
	// the rate in between do not forgive strikes.
	MessageRate    rate.Limit
	MessageBurst   int
	ByteRate       rate.Limit
	ByteBurst      int
	MaxRateStrikes int

	// AllowNoSubprotocol accepts clients that offer no subprotocol at all.
	// By default they are refused with 400 before the upgrade, since the
	// binding requires "mcp".
	AllowNoSubprotocol bool

	// TokenInfo extracts the caller's verified identity from the upgrade
	// request's context; it reaches every request as RequestExtra.TokenInfo.
	// Nil means TokenInfoFromContext, which finds what the middleware
	// package and the SDK's auth.RequireBearerToken store.
	TokenInfo func(context.Context) *auth.TokenInfo

	// ForwardHeaders names upgrade request headers that reach handlers in
	// RequestExtra.Header, beyond the default allow-list: Accept-Language,
	// Baggage, Forwarded, Mcp-Protocol-Version, Origin, Traceparent,
	// Tracestate, User-Agent, X-Forwarded-For, -Host and -Proto, X-Real-Ip,
	// X-Request-Id, and Sec-WebSocket-Protocol without its mcp.auth
	// entries. Every other header is dropped, so that a handler that logs
	// headers leaks no credential, including those a proxy adds. Never
	// list one that carries a credential.
	ForwardHeaders []string

	// Hooks observe connections, messages and limits (see package
	// otelmcpws for OpenTelemetry metrics). Nil observes nothing.
	Hooks *Hooks

	// IdleTimeout closes, with 1000 "idle timeout", a socket on which no
	// message has passed either way for this long while no request was
	// running. Pings do not count. Zero means no limit.
	IdleTimeout time.Duration

	// MaxLifetime closes every socket this long after it opened, with 1001
	// "connection lifetime reached", so that long-lived clients come back
	// with a fresh token and a revoked one stops working. Reconnecting
	// clients redial, and resumable sessions resume. Zero means no limit.
	MaxLifetime time.Duration

	// Resumption keeps 2025-x sessions alive across dropped sockets for
	// clients that offer it (see ResumptionOptions). Nil turns it off.
	Resumption *ResumptionOptions
}

// limits are the resolved per-connection settings shared by both sides.
type limits struct {
	logger           *slog.Logger
	readLimit        int64
	messageTimeout   time.Duration
	pingInterval     time.Duration
	pongTimeout      time.Duration
	writeTimeout     time.Duration
	maxQueueBytes    int
	maxInFlight      int
	maxInFlightBytes int64
	hooks            Hooks
	// keepRaw keeps the text of each message read on its Extra (client
	// side, raw path: raw.go; server side, relays: textconn.go).
	keepRaw bool
	// releaseOnCancel ends a call's bookkeeping when the peer cancels it
	// (relays: their server may never answer it; see releaseCancelled).
	releaseOnCancel bool
}

// resolved fills in the defaults of l's zero fields; defaultReadLimit
// differs between the server and the client.
func (l limits) resolved(defaultReadLimit int64) limits {
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.readLimit == 0 {
		l.readLimit = defaultReadLimit
	}
	if l.messageTimeout == 0 {
		l.messageTimeout = DefaultMessageTimeout
	}
	if l.pingInterval == 0 {
		l.pingInterval = DefaultPingInterval
	}
	if l.pongTimeout <= 0 {
		l.pongTimeout = DefaultPongTimeout
	}
	if l.writeTimeout <= 0 {
		l.writeTimeout = DefaultWriteTimeout
	}
	if l.maxQueueBytes <= 0 {
		l.maxQueueBytes = DefaultMaxQueueBytes
	}
	if l.maxInFlight == 0 {
		l.maxInFlight = DefaultMaxInFlight
	}
	if l.maxInFlightBytes == 0 {
		l.maxInFlightBytes = DefaultMaxInFlightBytes
	}
	return l
}
