package policy_test

import (
	"strings"
	"testing"

	"github.com/mcpws/mcpws/policy"
)

// A relay enforces the policy on messages it cannot hand to an
// mcp.Server: refused calls are answered with their own id and never
// forwarded, list results are filtered, updates for what the caller may
// not read are dropped, and everything else passes byte for byte.
func TestRelay(t *testing.T) {
	p, err := policy.Parse([]byte(threeRoles))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Relay(policy.Caller{Scopes: []string{"docs:read"}}, "ada", nil)
	for _, tt := range []struct {
		name, msg string
		pass      bool
		answer    string
	}{
		{"allowed call", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search"}}`, true, ""},
		{"refused call, numeric id", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"write_doc"}}`, false, `{"jsonrpc":"2.0","id":7,"error":{"code":-32015,`},
		{"refused call, string id", `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"Search"}}`, false, `"id":"a","error":{"code":-32015,`},
		{"refused read", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"db://users/rows"}}`, false, `"scope":"docs:write"`},
		{"refused subscribe", `{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"db://users/rows"}}`, false, `-32015`},
		{"refused prompt", `{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"other"}}`, false, `access_denied`},
		{"refused completion of a prompt", `{"jsonrpc":"2.0","id":10,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"other"},"argument":{"name":"a","value":""}}}`, false, `"id":10,"error":{"code":-32015`},
		{"allowed completion of a template", `{"jsonrpc":"2.0","id":11,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"docs://x"},"argument":{"name":"a","value":""}}}`, true, ""},
		{"unreadable params refused, not passed", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":["search"]}}`, false, `"id":12,"error":{"code":-32602`},
		{"params not an object", `{"jsonrpc":"2.0","id":13,"method":"resources/read","params":"db://users/rows"}`, false, `"id":13,"error":{"code":-32602`},
		{"call without params", `{"jsonrpc":"2.0","id":14,"method":"tools/call"}`, false, `"id":14,"error":{"code":-32015`},
		{"a list passes", `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, true, ""},
		{"a notification passes", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, true, ""},
		{"a response passes", `{"jsonrpc":"2.0","id":9,"result":{}}`, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answer, pass := r.FromClient(t.Context(), []byte(tt.msg))
			if pass != tt.pass || (tt.answer == "" && answer != nil) || !strings.Contains(string(answer), tt.answer) {
				t.Errorf("FromClient = %s, %v; want pass %v, answer with %s", answer, pass, tt.pass, tt.answer)
			}
		})
	}

	list := `{"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"search","inputSchema":{"type":"object"}},{"name":"write_doc"},{"name":"admin_reset"}],"nextCursor":"c2"}}`
	got := string(r.FromServer([]byte(list)))
	if !strings.Contains(got, `"name":"search"`) || strings.Contains(got, "write_doc") || strings.Contains(got, "admin_reset") || !strings.Contains(got, `"nextCursor":"c2"`) {
		t.Errorf("filtered tools/list = %s", got)
	}
	templates := `{"jsonrpc":"2.0","id":5,"result":{"resourceTemplates":[{"uriTemplate":"db://{table}/rows","name":"rows"}]}}`
	if got := string(r.FromServer([]byte(templates))); strings.Contains(got, "db://") {
		t.Errorf("filtered templates = %s", got)
	}
	if got := r.FromServer([]byte(`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"db://users/rows"}}`)); got != nil {
		t.Errorf("an update for a hidden resource passed: %s", got)
	}
	if got := r.FromServer([]byte(`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":["docs://guide"]}}`)); got != nil {
		t.Errorf("an update whose URI cannot be read passed: %s", got)
	}
	for _, same := range []string{
		`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"docs://guide"}}`,
		`{"jsonrpc":"2.0","id":6,"result":{"content":[{"type":"text","text":"tools"}]}}`,
		`{"jsonrpc":"2.0","id":8,"result":{"tools":[{"name":"search"}]}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`,
	} {
		if got := string(r.FromServer([]byte(same))); got != same {
			t.Errorf("FromServer changed %s into %s", same, got)
		}
	}
}
