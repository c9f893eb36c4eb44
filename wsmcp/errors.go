package wsmcp

import (
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// JSON-RPC error codes that the transport itself answers with. They lie in
// the range that JSON-RPC 2.0 reserves for implementation-defined server
// errors, clear of the codes used by the MCP SDKs.
const (
	// CodeShuttingDown answers a request that arrives while the server drains
	// for shutdown. Retry it on another connection.
	CodeShuttingDown = -32010
	// CodeRateLimited answers a request over the connection's message rate.
	CodeRateLimited = -32011
	// CodeTooManyInFlight answers a request while the connection already has
	// HandlerOptions.MaxInFlight requests running, or while the requests
	// running would, with it, pass MaxInFlightBytes or
	// MaxInFlightBytesPerIdentity.
	CodeTooManyInFlight = -32012
)

// Errors returned by Connection.Read and Connection.Write once the socket is
// finished.
var (
	// ErrClosed reports that the connection was closed, by either side.
	ErrClosed = errors.New("wsmcp: connection closed")
	// ErrSlowConsumer reports that the peer did not read fast enough: the
	// outbound queue stayed full for longer than the write timeout, or was
	// full when a notification for every subscriber arrived (Write).
	ErrSlowConsumer = errors.New("wsmcp: peer is not reading (outbound queue full)")
	// ErrPingTimeout reports that the peer did not answer a ping in time.
	ErrPingTimeout = errors.New("wsmcp: peer did not answer ping")
)

// Error replies written by the transport. They are *jsonrpc.Error values so
// that callers can compare codes with errors.As.
var (
	errParse          = &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: "parse error: message is not valid JSON"}
	errNotJSONRPC     = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: not a JSON-RPC 2.0 message"}
	errBatch          = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: JSON-RPC batches are not supported"}
	errDuplicateID    = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "invalid request: request id already in use"}
	errShuttingDown   = &jsonrpc.Error{Code: CodeShuttingDown, Message: "server shutting down"}
	errTooManyFlights = &jsonrpc.Error{Code: CodeTooManyInFlight, Message: "too many requests in flight on this connection"}
	errTooManyBytes   = &jsonrpc.Error{Code: CodeTooManyInFlight, Message: "too many bytes of requests in flight for this caller; retry when a call has finished"}
	errRateLimited    = &jsonrpc.Error{Code: CodeRateLimited, Message: "rate limited: too many requests on this connection, slow down"}
	errInitTooBig     = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
		"invalid params: a resumable session keeps its initialize params in the session store, at most %d bytes of them; send fewer, or do not offer resumption", maxStoredInit)}
	errStoreFull = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
		"invalid params: a resumable session keeps its subscriptions in the session store, at most %d of them, %d bytes of URIs in all and %d per URI; unsubscribe first", maxStoredSubscriptions, maxStoredSubBytes, maxStoredURI)}
)
