package policy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// three roles: readers list and read docs; editors also write; admins, by
// claim value, run anything named admin_*. Everything else is denied.
const threeRoles = `{
  "default": "deny",
  "claim": "roles",
  "rules": [
    {"tools": ["search", "read_doc"], "resources": ["docs://"], "prompts": ["summarize"], "scopes": ["docs:read"]},
    {"tools": ["write_doc"], "resources": ["db://{table}/rows"], "scopes": ["docs:read", "docs:write"]},
    {"tools": ["admin_*"], "values": ["admin"]}
  ]
}`

func TestCheck(t *testing.T) {
	p, err := policy.Parse([]byte(threeRoles))
	if err != nil {
		t.Fatal(err)
	}
	reader := policy.Caller{Scopes: []string{"docs:read"}}
	editor := policy.Caller{Scopes: []string{"docs:read", "docs:write"}}
	admin := policy.Caller{Values: []string{"admin"}}
	for _, tt := range []struct {
		name    string
		caller  policy.Caller
		kind    policy.Kind
		item    string
		allowed bool
		missing []string
	}{
		{"reader searches", reader, policy.Tool, "search", true, nil},
		{"reader writes", reader, policy.Tool, "write_doc", false, []string{"docs:write"}},
		{"nobody writes", policy.Caller{}, policy.Tool, "write_doc", false, []string{"docs:read", "docs:write"}},
		{"editor writes", editor, policy.Tool, "write_doc", true, nil},
		{"reader reads a doc", reader, policy.Resource, "docs://guide/intro", true, nil},
		{"reader reads rows", reader, policy.Resource, "db://users/rows", false, []string{"docs:write"}},
		{"editor reads rows", editor, policy.Resource, "db://users/rows", true, nil},
		{"a template's variable is one segment", editor, policy.Resource, "db://users/x/rows", false, nil},
		{"the template itself", editor, policy.Resource, "db://{table}/rows", true, nil},
		{"reader gets a prompt", reader, policy.Prompt, "summarize", true, nil},
		{"admin by claim", admin, policy.Tool, "admin_reset", true, nil},
		{"scopes cannot stand for a claim", editor, policy.Tool, "admin_reset", false, nil},
		{"unnamed: the default", editor, policy.Tool, "other", false, nil},
		{"case is a different name", reader, policy.Tool, "Search", false, nil},
		{"a trailing space is a different name", reader, policy.Tool, "search ", false, nil},
		{"a look-alike is a different name", reader, policy.Tool, "seаrch", false, nil}, // Cyrillic а
		{"a prefix is not a look-alike of its URI", reader, policy.Resource, "docs:/x", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Check(tt.caller, tt.kind, tt.item)
			if d.Allowed != tt.allowed || !slices.Equal(d.Missing, tt.missing) {
				t.Errorf("Check = %+v, want allowed %v, missing %v", d, tt.allowed, tt.missing)
			}
		})
	}
}

// With an allow default, rules restrict what they name and nothing else.
func TestDefaultAllow(t *testing.T) {
	p, err := policy.Compile(policy.Config{Default: policy.Allow, Rules: []policy.Rule{{Tools: []string{"delete_*"}, Scopes: []string{"admin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Check(policy.Caller{}, policy.Tool, "echo").Allowed {
		t.Error("an unnamed tool is refused under allow")
	}
	if d := p.Check(policy.Caller{}, policy.Tool, "delete_repo"); d.Allowed || !slices.Equal(d.Missing, []string{"admin"}) {
		t.Errorf("delete_repo = %+v, want refused for want of admin", d)
	}
}

// Every policy that cannot work is refused when it is compiled, with the
// reason.
func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct{ name, json, want string }{
		{"no default", `{"rules":[]}`, `default "": want "allow" or "deny"`},
		{"unknown default", `{"default":"maybe","rules":[]}`, `default "maybe"`},
		{"misspelt field", `{"default":"deny","rules":[{"tools":["x"],"scope":["a"]}]}`, `unknown field "scope"`},
		{"empty rule", `{"default":"deny","rules":[{"scopes":["a"]}]}`, "rule 0 names no tool"},
		{"values without a claim", `{"default":"deny","rules":[{"tools":["x"],"values":["admin"]}]}`, "names no claim"},
		{"bad pattern", `{"default":"deny","rules":[{"tools":["a["]}]}`, `tool pattern "a["`},
		{"bad template", `{"default":"deny","rules":[{"resources":["db://{t/rows"]}]}`, "without its }"},
		{"odd expression", `{"default":"deny","rules":[{"resources":["db://{?q}"]}]}`, "only {name} and {+name}"},
		{"empty name", `{"default":"deny","rules":[{"prompts":[""]}]}`, "an empty prompt name"},
		{"trailing data", `{"default":"deny","rules":[]} {}`, "data after the policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestScopesAndUnused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(path, []byte(threeRoles), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Scopes(); !slices.Equal(got, []string{"docs:read", "docs:write"}) {
		t.Errorf("Scopes = %v", got)
	}
	unused := p.Unused([]string{"search", "read_doc", "write_doc"}, []string{"docs://a", "db://{table}/rows"}, nil)
	want := []string{`rule 0: prompt "summarize" names nothing that exists`, `rule 2: tool "admin_*" names nothing that exists`}
	if !slices.Equal(unused, want) {
		t.Errorf("Unused = %q, want %q", unused, want)
	}
	if _, err := policy.Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestRateErrors(t *testing.T) {
	for _, tt := range []struct{ name, json, want string }{
		{"no calls", `{"default":"deny","rules":[{"tools":["x"],"rate":{"per":"1m"}}]}`, "calls and per above zero"},
		{"not a duration", `{"default":"deny","rules":[{"tools":["x"],"rate":{"calls":1,"per":60}}]}`, `a duration is a string such as "1m"`},
		{"bad duration", `{"default":"deny","rules":[{"tools":["x"],"rate":{"calls":1,"per":"1 minute"}}]}`, "time: unknown unit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
