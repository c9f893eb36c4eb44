package rpcerr

import (
	"errors"
	"fmt"
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
