package wsmcp

import "testing"

// The offer is added to the text of an initialize request, and every
// other byte stays as the program wrote it.
func TestSpliceOffer(t *testing.T) {
	t.Parallel()
	const entry = `{"window":9}`
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"no _meta", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"a":1}}`,
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"io.mcpws/resume":{"window":9}},"a":1}}`, true},
		{"empty params", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{ }}`,
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"io.mcpws/resume":{"window":9}} }}`, true},
		{"other _meta", `{ "id" : "x\u0079", "params" : { "_meta" : { "k" : [1,{"}":"{"}] } , "z":1e2 }, "method":"initialize", "jsonrpc":"2.0", "extra":null }`,
			`{ "id" : "x\u0079", "params" : { "_meta" : {"io.mcpws/resume":{"window":9}, "k" : [1,{"}":"{"}] } , "z":1e2 }, "method":"initialize", "jsonrpc":"2.0", "extra":null }`, true},
		{"empty _meta", `{"params":{"_meta":{}},"id":1}`, `{"params":{"_meta":{"io.mcpws/resume":{"window":9}}},"id":1}`, true},
		{"null _meta", `{"params":{"a":1, "_meta" : null },"id":1}`, `{"params":{"a":1, "_meta" : {"io.mcpws/resume":{"window":9}} },"id":1}`, true},
		{"already offered", `{"params":{"_meta":{"io.mcpws/resume":{}}}}`, "", false},
		{"params not an object", `{"params":[1]}`, "", false},
		{"_meta not an object", `{"params":{"_meta":"x"}}`, "", false},
		{"no params", `{"id":1}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := spliceOffer([]byte(tt.in), []byte(entry))
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("spliceOffer(%s) =\n %s, %v\nwant\n %s, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// The grant is taken out of the text of the initialize result, and every
// other byte stays as the server wrote it.
func TestStripGrant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"alone", `{"jsonrpc":"2.0","id":1,"result":{"_meta":{"io.mcpws/resume":{"secret":"s"}},"v":"2025"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"v":"2025"}}`, true},
		{"alone, last", `{"result":{"v":"2025", "_meta":{"io.mcpws/resume":{"secret":"s"}}},"id":1}`,
			`{"result":{"v":"2025"},"id":1}`, true},
		{"only member", `{"result":{"_meta":{"io.mcpws/resume":{"secret":"s"}}}}`, `{"result":{}}`, true},
		{"first of two", `{"result":{"_meta":{"io.mcpws/resume":{"secret":"s"},"k":1}}}`, `{"result":{"_meta":{"k":1}}}`, true},
		{"last of two", `{"result":{"_meta":{"k":1 , "io.mcpws/resume":{"secret":"s"}}}}`, `{"result":{"_meta":{"k":1}}}`, true},
		{"no grant", `{"result":{"_meta":{"k":1}}}`, "", false},
		{"no _meta", `{"result":{}}`, "", false},
		{"an error", `{"error":{"code":1,"message":"m"}}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := stripGrant([]byte(tt.in))
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("stripGrant(%s) =\n %s, %v\nwant\n %s, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// objectMembers refuses text it cannot read rather than guess.
func TestObjectMembersMalformed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `[`, `{`, `{"a"}`, `{"a":}`, `{"a":1`, `{"a":"1}`, `{"a":1 "b":2}`, `{1:2}`} {
		if ms, ok := objectMembers([]byte(in)); ok {
			t.Errorf("objectMembers(%q) = %v, true; want false", in, ms)
		}
	}
	ms, ok := objectMembers([]byte(` { "a\"b" : "x\\" , "c":[{"d":"]"}] } `))
	if !ok || len(ms) != 2 || ms[0].key != `a"b` || ms[1].key != "c" {
		t.Errorf("objectMembers = %+v, %v", ms, ok)
	}
}
