package main

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

// The shipped policy names only what the server has, so that the server
// started with it logs no warning; and inventory finds what main adds
// after newServer, the template's URI template among the resources.
func TestShippedPolicy(t *testing.T) {
	p, err := policy.Load("policy.example.json")
	if err != nil {
		t.Fatal(err)
	}
	server := newServer()
	n := notifier(server, nil, nil)
	defer n.Close()
	addNotifyTool(server, n) // as main does
	tools, resources, prompts, err := inventory(t.Context(), server)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{"tools", "increment", "notify_resource_updated", "whoami"},
		{"resources", "test://static-text", "test://template/{id}/data"},
		{"prompts", "test_simple_prompt"},
	} {
		have := map[string][]string{"tools": tools, "resources": resources, "prompts": prompts}[want[0]]
		for _, name := range want[1:] {
			if !slices.Contains(have, name) {
				t.Errorf("inventory's %s lack %s: %v", want[0], name, have)
			}
		}
	}
	if unused := p.Unused(tools, resources, prompts); len(unused) > 0 {
		t.Errorf("policy.example.json names what the server lacks:\n%s", strings.Join(unused, "\n"))
	}
	// A misspelt name is what Unused reports.
	if unused := p.Unused(slices.DeleteFunc(tools, func(s string) bool { return s == "increment" }), resources, prompts); len(unused) != 1 || !strings.Contains(unused[0], `"increment"`) {
		t.Errorf("without the tool increment, Unused = %q", unused)
	}
	if p.Claim() != "roles" {
		t.Errorf("claim %q, want roles", p.Claim())
	}
}

// -policy loads the file, and passes its claim to the verifier; a file
// that cannot be a policy, or a flag it cannot hold with, is a usage
// error that names the problem.
func TestPolicyFlag(t *testing.T) {
	dir := t.TempDir()
	misspelt := filepath.Join(dir, "misspelt.json")
	if err := os.WriteFile(misspelt, []byte(`{"default":"deny","rules":[{"tools":["echo"],"scope":["mcp"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) (string, bool) { return "", false }
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-policy", filepath.Join(dir, "none.json")}, "no such file"},
		{"unknown field", []string{"-policy", misspelt}, `unknown field "scope"`},
		{"with -stdio", []string{"-stdio", "-policy", "policy.example.json"}, "not to -stdio"},
		{"audit with -stdio", []string{"-stdio", "-audit"}, "not to -stdio"},
		{"with -sdk-http", []string{"-sdk-http", "-policy", "policy.example.json"}, "use one or the other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if _, err := parseFlags(tt.args, env, &stderr); err == nil || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("parseFlags = %v, printed %q; want an error naming %q", err, stderr.String(), tt.want)
			}
		})
	}
	var stderr strings.Builder
	c, err := parseFlags([]string{"-policy", "policy.example.json", "-audit"}, env, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if c.policy == nil || !slices.Equal(c.Claims, []string{"roles"}) || !c.audit {
		t.Errorf("config: policy %v, claims %v, audit %v", c.policy, c.Claims, c.audit)
	}
}
