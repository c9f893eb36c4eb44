// Package rpcerr maps errors to the JSON-RPC codes they are answered with,
// for the transports' hooks and replies.
package rpcerr

import (
	"encoding/json"
	"errors"
	"strings"

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

// Answer encodes the response that answers, with err, the request whose
// id is raw, byte for byte as the request spelled it (nil: id null; an id
// is never decoded, so that one such as 1.5 or 2^53+1 is never rounded
// into another's). It reports false for an id that is neither a string
// nor a number.
func Answer(raw json.RawMessage, err *jsonrpc.Error) ([]byte, bool) {
	id := []byte("null")
	if len(raw) > 0 {
		if !json.Valid(raw) || !strings.ContainsRune(`"-0123456789`, rune(raw[0])) {
			return nil, false
		}
		id = raw
	}
	e, encErr := json.Marshal(err)
	if encErr != nil {
		return nil, false
	}
	b := make([]byte, 0, len(id)+len(e)+32)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"error":`...)
	b = append(b, e...)
	return append(b, '}'), true
}
