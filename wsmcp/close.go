package wsmcp

import "github.com/coder/websocket"

// Close reasons of the binding. Reasons are fixed strings, never built
// from input, and fit the 123-byte limit; docs/protocol.md lists them with
// their codes. Code branches on close codes, never on reasons, with one
// exception, exported: a token expiry.
const (
	// ReasonTokenExpired closes 1008 (websocket.StatusPolicyViolation) a
	// connection whose token expired: the only 1008 after which a client
	// redials, with a fresh token.
	ReasonTokenExpired   = "token expired"
	reasonLifetime       = "connection lifetime reached"
	reasonIdle           = "idle timeout"
	reasonBinary         = "binary messages are not supported"
	reasonInvalidUTF8    = "message is not valid UTF-8"
	reasonShutdown       = "server shutting down"
	reasonSlowConsumer   = "slow consumer"
	reasonMessageTimeout = "message did not arrive in time"
)

// closeStatus is what a connection records about how it ended, for logs.
type closeStatus struct {
	code   websocket.StatusCode
	reason string
	err    error
}
