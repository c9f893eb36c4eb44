package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/mcpws/mcpws/policy"
)

func TestTarget(t *testing.T) {
	tests := []struct {
		method, params string
		kind           policy.Kind
		name           string
		decided, bad   bool
	}{
		{"tools/call", `{"name":"search","arguments":{"q":1}}`, policy.Tool, "search", true, false},
		{"prompts/get", `{"name":"greet"}`, policy.Prompt, "greet", true, false},
		{"resources/read", `{"uri":"docs://a","name":"ignored"}`, policy.Resource, "docs://a", true, false},
		{"resources/subscribe", `{"uri":"docs://a"}`, policy.Resource, "docs://a", true, false},
		{"completion/complete", `{"ref":{"type":"ref/prompt","name":"greet"}}`, policy.Prompt, "greet", true, false},
		{"completion/complete", `{"ref":{"type":"ref/resource","uri":"docs://{x}"}}`, policy.Resource, "docs://{x}", true, false},
		{"completion/complete", `{"ref":{"type":"ref/other","name":"x"}}`, 0, "", false, false},
		{"completion/complete", `{}`, 0, "", false, false},
		{"tools/call", ``, policy.Tool, "", true, false}, // no params: the empty name, which the policy decides on
		{"tools/call", `{"name":7}`, policy.Tool, "", true, true},
		{"resources/read", `"docs://a"`, policy.Resource, "", true, true},
		{"tools/list", `{"cursor":"c"}`, 0, "", false, false},
		{"notifications/cancelled", `{"requestId":1}`, 0, "", false, false},
		{"Tools/Call", `{"name":"search"}`, 0, "", false, false}, // methods are case-sensitive
	}
	for _, tt := range tests {
		k, name, decided, err := policy.Target(tt.method, json.RawMessage(tt.params))
		if decided != tt.decided || (err != nil) != tt.bad || (decided && !tt.bad && (k != tt.kind || name != tt.name)) {
			t.Errorf("Target(%q, %s) = %v, %q, %v, %v; want %v, %q, %v, error %v", tt.method, tt.params, k, name, decided, err, tt.kind, tt.name, tt.decided, tt.bad)
		}
	}
}
