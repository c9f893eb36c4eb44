package policy_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/policy"
)

// A policy in Go: everything is denied but what the rules name; searching
// needs docs:read, deleting needs docs:admin as well.
func Example() {
	p, err := policy.Compile(policy.Config{
		Default: policy.Deny,
		Rules: []policy.Rule{
			{Tools: []string{"search"}, Scopes: []string{"docs:read"}},
			{Tools: []string{"delete_*"}, Scopes: []string{"docs:read", "docs:admin"}},
		},
	})
	if err != nil {
		panic(err)
	}
	reader := policy.Caller{Scopes: []string{"docs:read"}}
	fmt.Println(p.Check(reader, policy.Tool, "search").Allowed)
	fmt.Println(p.Check(reader, policy.Tool, "delete_doc").Missing)
	fmt.Println(p.Check(reader, policy.Tool, "export").Allowed)

	// Enforced on every session of the server, whatever its transport.
	server := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, nil)
	server.AddReceivingMiddleware(p.Middleware(nil))
	_ = func(*http.Request) *mcp.Server { return server } // mcpws.New's getServer
	// Output:
	// true
	// [docs:admin]
	// false
}

// A program that relays raw messages, or refuses them before an mcp.Server
// reads them, asks Target what a request would use, then Check whether
// the caller may.
func ExampleTarget() {
	p, err := policy.Parse([]byte(`{"default":"deny","rules":[{"prompts":["greet"],"scopes":["prompts"]}]}`))
	if err != nil {
		panic(err)
	}
	caller := policy.Caller{Scopes: []string{"mcp"}}
	for _, m := range []struct{ method, params string }{
		{"completion/complete", `{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"who","value":"a"}}`},
		{"tools/call", `{"name":["search"]}`},
		{"tools/list", `{}`},
	} {
		k, name, decided, err := policy.Target(m.method, json.RawMessage(m.params))
		switch {
		case !decided:
			fmt.Printf("%s: not decided on\n", m.method)
		case err != nil:
			fmt.Printf("%s: refuse as invalid params\n", m.method)
		default:
			d := p.Check(caller, k, name)
			fmt.Printf("%s %s %q: allowed %v, missing %v\n", m.method, k, name, d.Allowed, d.Missing)
		}
	}
	// Output:
	// completion/complete prompt "greet": allowed false, missing [prompts]
	// tools/call: refuse as invalid params
	// tools/list: not decided on
}
