package policy_test

import (
	"fmt"
	"testing"

	"github.com/mcpws/mcpws/policy"
)

// fiftyRules is a policy of 50 rules, patterns, prefixes and templates
// among them, none naming the tool a caller calls until the last.
func fiftyRules(b *testing.B) *policy.Policy {
	b.Helper()
	cfg := policy.Config{Default: policy.Deny, Claim: "roles"}
	for i := range 49 {
		cfg.Rules = append(cfg.Rules, policy.Rule{
			Tools:     []string{fmt.Sprintf("tool_%d", i), fmt.Sprintf("admin_%d_*", i)},
			Resources: []string{fmt.Sprintf("docs://%d/", i), fmt.Sprintf("db://%d/{table}/rows", i)},
			Scopes:    []string{fmt.Sprintf("scope:%d", i)},
			Values:    []string{"admin"},
		})
	}
	cfg.Rules = append(cfg.Rules, policy.Rule{Tools: []string{"echo"}, Scopes: []string{"mcp"}})
	p, err := policy.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkCheck is the cost of one decision against 50 rules.
//
//	go test -run '^$' -bench Check -benchmem ./policy
func BenchmarkCheck(b *testing.B) {
	p := fiftyRules(b)
	c := policy.Caller{Scopes: []string{"mcp", "read"}, Values: []string{"user"}}
	b.Run("tool", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !p.Check(c, policy.Tool, "echo").Allowed {
				b.Fatal("refused")
			}
		}
	})
	b.Run("resource", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Check(c, policy.Resource, "db://7/users/rows")
		}
	})
}
