package wsmcp

import "github.com/coder/websocket"

// Close codes and reasons of the binding (docs/protocol.md). Reasons are
// fixed strings, never built from input, and fit the 123-byte limit.
const (
	// ReasonTokenExpired closes 1008 (websocket.StatusPolicyViolation) a
	// connection whose token expired: the only 1008 after which a client
	// redials, with a fresh token.
	ReasonTokenExpired   = "token expired"
	ReasonLifetime       = "connection lifetime reached"
	ReasonIdle           = "idle timeout"
	reasonBinary         = "binary messages are not supported"
	reasonInvalidUTF8    = "message is not valid UTF-8"
	ReasonShutdown       = "server shutting down"
	ReasonSlowConsumer   = "slow consumer"
	ReasonMessageTimeout = "message did not arrive in time"
)

// closeStatus is what a connection records about how it ended, for logs.
type closeStatus struct {
	code   websocket.StatusCode
	reason string
	err    error
}
