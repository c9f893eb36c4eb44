// Package rpcerr maps errors to the JSON-RPC codes they are answered with,
// for the transports' hooks and replies.
package rpcerr

import (
	"errors"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Code is the JSON-RPC code that err is sent with, 0 for none: its own
// code for a *jsonrpc.Error, anywhere in its chain, else -32603.
func Code(err error) int64 {
	if err == nil {
		return 0
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return jsonrpc.CodeInternalError
}
