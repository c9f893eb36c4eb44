package wsmcp

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// Hooks observe a Handler's connections, for metrics and audit. Every field
// is optional. Hooks run synchronously on the connection's goroutines:
// keep them fast, and safe for concurrent use. Package otelmcpws turns them
// into OpenTelemetry metrics.
//
// The context passed to a hook is the connection's: it carries the values
// of the upgrade request (trace context, identity) but not its
// cancellation.
type Hooks struct {
	// Refused is called for a request refused before the upgrade, with
	// the status written and a short reason ("origin", "auth.expired",
	// "rate.ip", "cap.identity", "draining", …). Under mcpws.New it sees
	// the refusals of the whole stack.
	Refused func(r *http.Request, status int, reason string)

	// Opened is called when a connection is upgraded, before its session
	// starts.
	Opened func(ctx context.Context, c ConnInfo)

	// Closed is called once when a connection has ended.
	Closed func(ctx context.Context, c ConnInfo, s CloseInfo)

	// Message is called for every well-formed message read (In) or
	// queued for writing (Out), with its size in bytes. method is the
	// request's or notification's method; for a response, the method of
	// the request it answers. Error replies that the transport writes
	// itself, for bad input and limits, are not messages of the session and
	// are not reported (limits are, through Limited).
	Message func(ctx context.Context, dir Direction, method string, size int)

	// Served is called when the response to a client's request is
	// queued: how long the request took, and its JSON-RPC error code (0
	// for a result).
	Served func(ctx context.Context, method string, d time.Duration, code int64)

	// Limited is called when a limit refuses a message or ends the
	// connection.
	Limited func(ctx context.Context, limit Limit)
}

// Direction is the way a message travels, seen from this end.
type Direction string

// Directions.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// Limit names a limit of the transport that refused a message or ended a
// connection, as reported to Hooks.Limited and logged.
type Limit string

// Limits reported to Hooks.Limited.
const (
	LimitMessageRate   Limit = "message_rate"    // a request over HandlerOptions.MessageRate (-32011)
	LimitRateAbuse     Limit = "rate_abuse"      // too many of those without a pause: closed 1008
	LimitInFlight      Limit = "in_flight"       // a request over HandlerOptions.MaxInFlight (-32012)
	LimitInFlightBytes Limit = "in_flight_bytes" // a request over MaxInFlightBytes or its identity's bound (-32012)
	LimitMessageSize   Limit = "message_size"    // a message over the read limit: closed 1009
	LimitSlowConsumer  Limit = "slow_consumer"   // the outbound queue stayed full: dropped
	LimitReplay        Limit = "replay"          // a resumable session's peer stopped acknowledging: closed 1008
)

// ConnInfo identifies a connection to Hooks.
type ConnInfo struct {
	SessionID string
	Subject   string // the verified subject, "" without authentication
	Remote    string // the peer address as the server saw it
	// Transport is "websocket", or "http" for a Streamable HTTP session
	// of an endpoint that mcpws.New assembled, which reports those to the
	// same hooks.
	Transport string
}

// CloseInfo says how a connection ended.
type CloseInfo struct {
	Code        websocket.StatusCode // 1006 when the socket was dropped
	Reason      string
	Duration    time.Duration
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
	// Invalid counts the messages that were not valid JSON-RPC; Ignored,
	// the responses dropped unanswered because they answered no request
	// of this side's, or were malformed.
	Invalid int64
	Ignored int64
}
