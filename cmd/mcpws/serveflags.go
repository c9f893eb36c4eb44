//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/mcpws/mcpws/gateway"
	"github.com/mcpws/mcpws/internal/stackflags"
	"github.com/mcpws/mcpws/policy"
)

// serveConfig is the command line of "mcpws serve": the stack's flags,
// shared with examples/everything, and the gateway's.
type serveConfig struct {
	stackflags.Flags
	metricsAddr string
	verbose     bool
	idleTimeout time.Duration
	maxLifetime time.Duration

	// The child.
	command       []string // COMMAND ARGS, COMMAND resolved to a path at start
	env           []string // names passed from the gateway's environment
	envFromClaim  []claimEnv
	killGrace     time.Duration
	maxChildren   int
	maxChildrenID int
	childMemory   int64 // RLIMIT_AS, bytes; 0: none
	childFiles    uint64
	maxLineBytes  int
	policy        *policy.Policy // from -policy FILE; nil for none
	audit         bool
}

// claimEnv is one --env-from-claim NAME=claim.
type claimEnv struct{ name, claim string }

// claims names what --env-from-claim may pass: what the verifier
// establishes about a caller.
var claims = []string{"sub", "iss", "scope"}

// defaultIdleTimeout is -idle-timeout's default; the process flags'
// defaults are the gateway's.
const defaultIdleTimeout = 30 * time.Minute

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// errUsage is a usage error: exit code 2, the message already printed.
var errUsage = errors.New("usage")

// parseServe parses the arguments of "mcpws serve"; lookupEnv reads the
// gateway's environment. A usage error is printed on stderr.
func parseServe(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*serveConfig, error) {
	c := new(serveConfig)
	fs := flag.NewFlagSet("mcpws serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mcpws serve [flags] -- COMMAND ARGS...\n\n"+
			"Serves the stdio MCP server COMMAND at /mcp over WebSocket, one process per session.\n"+
			"Secrets come from the environment only: JWT_SECRET (HS256, at least 32 bytes).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	c.Register(fs)
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus text metrics at /metrics on this separate address, e.g. 127.0.0.1:9090")
	fs.BoolVar(&c.verbose, "v", false, "log at debug level")
	fs.DurationVar(&c.Resume, "resume-grace", 0, "the same as -resume")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", defaultIdleTimeout, "close a session, and stop its process, after this long without a message either way while no request runs (0: never)")
	fs.DurationVar(&c.maxLifetime, "max-lifetime", 0, "close every socket this long after it opened, with 1001; clients redial with a fresh token (0: never)")

	var env, fromClaim listFlag
	fs.Var(&env, "env", "pass the gateway's environment variable NAME to the process (repeatable); nothing else is passed, not even PATH")
	fs.Var(&fromClaim, "env-from-claim", "set NAME to the caller's token claim (sub, iss or scope) in the process: NAME=claim (repeatable)")
	fs.DurationVar(&c.killGrace, "kill-grace", gateway.DefaultKillGrace, "at session end: stdin closed, SIGTERM after this long, SIGKILL after as long again")
	fs.IntVar(&c.maxChildren, "max-children", gateway.DefaultMaxProcesses, "processes running at once, in total (beyond: 503 before the upgrade)")
	fs.IntVar(&c.maxChildrenID, "max-children-per-user", gateway.DefaultMaxProcessesPerIdentity, "processes running at once per identity (beyond: 429 before the upgrade)")
	fs.Int64Var(&c.childMemory, "child-memory", 0, "address-space limit of each process in bytes (RLIMIT_AS; 0: none)")
	fs.Uint64Var(&c.childFiles, "child-files", 0, "open-file limit of each process (RLIMIT_NOFILE; 0: inherited)")
	fs.IntVar(&c.maxLineBytes, "max-message-bytes", gateway.DefaultMaxMessageBytes, "largest message a process may write on stdout; larger ends the session")
	fs.BoolVar(&c.audit, "audit", false, "log one \"mcpws: audit\" record per tool call, resource read and prompt get (refusals included), on stderr at info level")
	policyFile := fs.String("policy", "", "a JSON policy file (docs/authorization.md): what each caller may list, call, read and get, enforced on the messages relayed")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, errUsage
	}
	bad := func(format string, a ...any) (*serveConfig, error) {
		fmt.Fprintf(stderr, "mcpws serve: "+format+"\n", a...)
		return nil, errUsage
	}
	c.command = fs.Args()
	if len(c.command) == 0 {
		return bad("no COMMAND: usage: mcpws serve [flags] -- COMMAND ARGS...")
	}
	if i := len(args) - len(c.command) - 1; i < 0 || args[i] != "--" {
		return bad("put -- before COMMAND, so that its flags are never read as the gateway's: mcpws serve [flags] -- %s", c.command[0])
	}
	path, err := exec.LookPath(c.command[0])
	if err != nil {
		return bad("COMMAND %q: %v", c.command[0], err)
	}
	c.command[0] = path
	for _, name := range env {
		if !envName(name) {
			return bad("-env %q: want a variable NAME (its value is read from the environment, never from the command line)", name)
		}
		c.env = append(c.env, name)
	}
	for _, kv := range fromClaim {
		name, claim, ok := strings.Cut(kv, "=")
		if !ok || !envName(name) || !isClaim(claim) {
			return bad("-env-from-claim %q: want NAME=claim, claim one of %s", kv, strings.Join(claims, ", "))
		}
		c.envFromClaim = append(c.envFromClaim, claimEnv{name, claim})
	}
	switch {
	case c.killGrace <= 0:
		return bad("-kill-grace must be positive")
	case c.maxChildren <= 0 || c.maxChildrenID <= 0:
		return bad("-max-children and -max-children-per-user must be positive")
	case c.childMemory < 0:
		return bad("-child-memory must not be negative")
	case c.maxLineBytes <= 0:
		return bad("-max-message-bytes must be positive")
	case c.idleTimeout < 0 || c.maxLifetime < 0:
		return bad("-idle-timeout and -max-lifetime must not be negative")
	}
	if err := c.Check(fs, lookupEnv); err != nil {
		return bad("%v", err)
	}
	if len(c.envFromClaim) > 0 && !c.Authenticated() {
		return bad("-env-from-claim needs authentication (JWT_SECRET or -jwks-url): without it there is no claim")
	}
	if *policyFile != "" {
		if c.policy, err = policy.Load(*policyFile); err != nil {
			return bad("-policy: %v", err)
		}
		if claim := c.policy.Claim(); claim != "" {
			if !c.Authenticated() {
				return bad("-policy: its rules need the %q claim, and there is no token without authentication (JWT_SECRET or -jwks-url)", claim)
			}
			c.Claims = append(c.Claims, claim) // the verifier passes it on
		}
	}
	return c, nil
}

// envName reports whether s may name a variable here: not empty, no "="
// (a value belongs in the environment, never on the command line). New
// checks that it is a portable name.
func envName(s string) bool { return s != "" && !strings.ContainsAny(s, "=\x00") }

func isClaim(s string) bool {
	for _, c := range claims {
		if s == c {
			return true
		}
	}
	return false
}
