package rpcerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int64
	}{
		{nil, 0},
		{&jsonrpc.Error{Code: -32010}, -32010},
		{fmt.Errorf("wrapped: %w", &jsonrpc.Error{Code: -32602}), -32602},
		{errors.New("plain"), jsonrpc.CodeInternalError},
	} {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// Answer keeps a request's id as the request spelled it, and refuses an
// id that no answer may carry.
func TestAnswer(t *testing.T) {
	refused := &jsonrpc.Error{Code: -32015, Message: "no", Data: json.RawMessage(`{"error":"access_denied"}`)}
	for _, tt := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{`7`, `{"jsonrpc":"2.0","id":7,"error":{"code":-32015,"message":"no","data":{"error":"access_denied"}}}`, true},
		{`9007199254740993`, `{"jsonrpc":"2.0","id":9007199254740993,"error":`, true},
		{`1.5`, `{"jsonrpc":"2.0","id":1.5,"error":`, true},
		{`"a"`, `{"jsonrpc":"2.0","id":"a","error":`, true},
		{``, `{"jsonrpc":"2.0","id":null,"error":`, true},
		{`{}`, ``, false},
		{`true`, ``, false},
		{`"unterminated`, ``, false},
	} {
		got, ok := Answer(json.RawMessage(tt.raw), refused)
		if ok != tt.ok || !strings.HasPrefix(string(got), tt.want) {
			t.Errorf("Answer(%s) = %s, %v; want %s…, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
		if ok && !json.Valid(got) {
			t.Errorf("Answer(%s) = %s: not JSON", tt.raw, got)
		}
	}
}
