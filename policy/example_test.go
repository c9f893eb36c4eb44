package policy_test

import (
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
