//go:build linux

package gateway

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/audit"
)

// The gateway's audit trail matches each call to what ends it: the
// process's answer (a result, a tool error, a JSON-RPC error), the
// policy's refusal, the client's cancellation, or the end of the session;
// other messages leave no record.
func TestAuditTrail(t *testing.T) {
	var got []audit.Record
	a := newAuditTrail(context.Background(), func(_ context.Context, r audit.Record) { got = append(got, r) },
		&auth.TokenInfo{UserID: "ada", Extra: map[string]any{"iss": "https://idp", "client_id": "cli"}}, "s1", "http")
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok","arguments":{"a":1}}}`), nil)
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tool_error"}}`), nil)
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":"x","method":"resources/read","params":{"uri":"file:///a"}}`), nil)
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"cancelled"}}`), nil)
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"left"}}`), nil)
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"refused"}}`),
		[]byte(`{"jsonrpc":"2.0","id":6,"error":{"code":-32015,"message":"insufficient_scope"}}`))
	a.fromClient([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`), nil)
	a.fromProcess([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`))
	a.fromProcess([]byte(`{"jsonrpc":"2.0","id":2,"result":{"content":[],"isError":true}}`))
	a.fromProcess([]byte(`{"jsonrpc":"2.0","id":"x","error":{"code":-32002,"message":"not found"}}`))
	a.fromProcess([]byte(`{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}`))
	a.fromClient([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}`), nil)
	a.end()
	want := []struct {
		name    string
		outcome audit.Outcome
		code    int64
	}{
		{"refused", audit.Refused, -32015},
		{"ok", audit.OK, 0},
		{"tool_error", audit.Error, 0},
		{"file:///a", audit.Error, -32002},
		{"cancelled", audit.Cancelled, 0},
		{"left", audit.Cancelled, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		r := got[i]
		if r.Name != w.name || r.Outcome != w.outcome || r.Code != w.code || r.Subject != "ada" || r.Issuer != "https://idp" ||
			r.Client != "cli" || r.Session != "s1" || r.Transport != "http" {
			t.Errorf("record %d = %+v, want %s %s %d", i, r, w.name, w.outcome, w.code)
		}
	}
	if got[1].ArgumentBytes != len(`{"a":1}`) {
		t.Errorf("argument bytes %d", got[1].ArgumentBytes)
	}
}
