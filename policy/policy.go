// Package policy decides what each caller may do inside an MCP session:
// which tools it may list and call, which resources it may list, read and
// subscribe to, and which prompts it may list and get, from the scopes and
// claim values of its verified token.
//
// A policy is a default (Allow or Deny, chosen explicitly) and rules. A rule
// names tools and prompts (by name, or by a path.Match pattern such as
// "admin_*") and resources (by URI prefix, or by URI template such as
// "db://{table}/rows"), and says what a caller needs to use them: every
// scope of Scopes, and, when Values is set, one of those values in the
// policy's Claim (roles, groups). What no rule names falls to the default;
// what rules name is allowed to a caller that satisfies one of them.
//
// [Policy.Middleware] enforces a policy on an *mcp.Server, whichever
// transport carries its sessions: lists show each caller only what it may
// use, and calls, reads, gets and subscriptions outside the policy are
// refused before any handler runs, with an error that names the missing
// scopes so that a client can obtain a wider token.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Effect is what a policy does with what its rules do not name.
type Effect string

// Effects.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Config is a policy as written, in Go or in a JSON file (see [Load]).
type Config struct {
	// Default decides for what no rule names: Allow or Deny. Required:
	// there is no implicit default.
	Default Effect `json:"default"`
	// Claim names the token claim whose values rules may require with
	// Rule.Values ("roles", "groups"): a string of space-separated values
	// or an array of strings. The verifier must pass it on (see
	// middleware.JWTOptions.Claims).
	Claim string `json:"claim,omitempty"`
	// Rules name what they govern and what a caller needs.
	Rules []Rule `json:"rules"`
}

// Rule names tools, resources and prompts, and what a caller needs to use
// them: every scope of Scopes and, when Values is set, one of Values in the
// policy's Claim. A rule with neither allows every caller.
type Rule struct {
	// Tools and Prompts are names, or path.Match patterns ("admin_*").
	Tools   []string `json:"tools,omitempty"`
	Prompts []string `json:"prompts,omitempty"`
	// Resources are URI prefixes ("file:///public/"), or URI templates
	// ("db://{table}/rows", where {x} stands for one or more characters
	// other than "/", and {+x} for one or more of any) that a URI must
	// match whole.
	Resources []string `json:"resources,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	Values    []string `json:"values,omitempty"`
	// Rate, when set, bounds how often each caller may use what the rule
	// names (an expensive search: 10 calls a minute), whatever rule
	// allowed it: tools/call, prompts/get and resources/read count.
	Rate *Rate `json:"rate,omitempty"`
}

// Rate is Calls per window Per, per identity (issuer and subject; per
// session without authentication), counted in sliding windows by a
// middleware.RateCounter: in this process, or shared by an endpoint's
// replicas (mcpws.Options.SharedLimits).
type Rate struct {
	Calls int      `json:"calls"`
	Per   Duration `json:"per"`
}

// Duration is a time.Duration written as in Go ("1m", "30s") in JSON.
type Duration time.Duration

// UnmarshalJSON reads "1m", "30s" and the like.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as Go does.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Kind is what a name names.
type Kind int

// Kinds.
const (
	Tool Kind = iota
	Resource
	Prompt
)

func (k Kind) String() string {
	switch k {
	case Tool:
		return "tool"
	case Resource:
		return "resource"
	}
	return "prompt"
}

// Policy is a compiled Config, safe for concurrent use.
type Policy struct {
	cfg     Config
	rules   []rule
	callers callers // each session's latest caller, for SendingMiddleware
}

// rule is a Rule with its names compiled.
type rule struct {
	Rule
	index int
	names [3]matchers // by Kind
}

// Compile checks cfg and returns its policy: an error names the rule and
// the name that cannot work (an unknown default, a bad pattern or
// template, Values without a Claim).
func Compile(cfg Config) (*Policy, error) {
	if cfg.Default != Allow && cfg.Default != Deny {
		return nil, fmt.Errorf("policy: default %q: want %q or %q", cfg.Default, Allow, Deny)
	}
	p := &Policy{cfg: cfg}
	for i, r := range cfg.Rules {
		if len(r.Tools)+len(r.Resources)+len(r.Prompts) == 0 {
			return nil, fmt.Errorf("policy: rule %d names no tool, resource or prompt", i)
		}
		if len(r.Values) > 0 && cfg.Claim == "" {
			return nil, fmt.Errorf("policy: rule %d needs claim values, but the policy names no claim", i)
		}
		if r.Rate != nil && (r.Rate.Calls <= 0 || r.Rate.Per <= 0) {
			return nil, fmt.Errorf("policy: rule %d: a rate needs calls and per above zero", i)
		}
		c := rule{Rule: r, index: i}
		for k, names := range [3][]string{r.Tools, r.Resources, r.Prompts} {
			for _, name := range names {
				m, err := compileMatcher(Kind(k), name)
				if err != nil {
					return nil, fmt.Errorf("policy: rule %d: %w", i, err)
				}
				c.names[k] = append(c.names[k], m)
			}
		}
		p.rules = append(p.rules, c)
	}
	return p, nil
}

// Parse compiles the JSON form of a Config. Unknown fields are errors: a
// misspelt "scopes" must not silently allow.
func Parse(data []byte) (*Policy, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("policy: data after the policy")
	}
	return Compile(cfg)
}

// Load reads and compiles the policy in the JSON file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Caller is what a policy knows of a caller: its scopes, and its values of
// the policy's claim.
type Caller struct {
	Scopes []string
	Values []string
}

// Decision is a policy's answer for one caller and one name.
type Decision struct {
	Allowed bool
	// Missing are the scopes that would allow it, when scopes alone can:
	// those of the rule that lacks the fewest. Empty when the caller's
	// claim values, not its scopes, stand in the way.
	Missing []string
}

// Check decides whether c may use the kind k named name (a tool's or
// prompt's name, a resource's URI or URI template).
func (p *Policy) Check(c Caller, k Kind, name string) Decision {
	named := false
	var best []string
	bestSet := false
	for i := range p.rules {
		r := &p.rules[i]
		if !r.names[k].match(name) {
			continue
		}
		named = true
		if len(r.Values) > 0 && !slices.ContainsFunc(c.Values, func(v string) bool { return slices.Contains(r.Values, v) }) {
			continue
		}
		var missing []string
		for _, s := range r.Scopes {
			if !slices.Contains(c.Scopes, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			return Decision{Allowed: true}
		}
		if !bestSet || len(missing) < len(best) {
			best, bestSet = missing, true
		}
	}
	if !named {
		return Decision{Allowed: p.cfg.Default == Allow}
	}
	return Decision{Missing: best}
}

// Claim returns the claim whose values the policy's rules require, or "".
func (p *Policy) Claim() string { return p.cfg.Claim }

// rates returns the rates of the rules that name k's name, with their
// rules' indexes.
func (p *Policy) rates(k Kind, name string) []limited {
	var out []limited
	for i := range p.rules {
		r := &p.rules[i]
		if r.Rate != nil && r.names[k].match(name) {
			out = append(out, limited{rule: r.index, rate: *r.Rate})
		}
	}
	return out
}

type limited struct {
	rule int
	rate Rate
}

// Scopes returns every scope the policy's rules use, sorted: what the
// protected resource metadata should list as scopes_supported.
func (p *Policy) Scopes() []string {
	var all []string
	for _, r := range p.rules {
		all = append(all, r.Scopes...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// Unused returns, for each name of a rule that matches none of the given
// tools, resources (URIs or URI templates) and prompts, a line that says
// which: a rule that governs nothing is most likely a typo, which a program
// should report when it starts.
func (p *Policy) Unused(tools, resources, prompts []string) []string {
	var out []string
	for _, r := range p.rules {
		for k, have := range [3][]string{tools, resources, prompts} {
			for _, m := range r.names[k] {
				if !slices.ContainsFunc(have, m.match) {
					out = append(out, fmt.Sprintf("rule %d: %s %q names nothing that exists", r.index, Kind(k), m.source))
				}
			}
		}
	}
	return out
}
