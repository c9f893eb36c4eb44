//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcpws/mcpws/audit"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// Defaults of [Options].
const (
	DefaultKillGrace               = 5 * time.Second
	DefaultMaxProcesses            = 256
	DefaultMaxProcessesPerIdentity = 8
	DefaultMaxMessageBytes         = 4 << 20
)

// Options configures a [Gateway]. Command is required; every other field's
// zero value is a good default.
type Options struct {
	// Command is the stdio MCP server and its arguments, fixed for every
	// session: nothing a client sends chooses a command, an argument or a
	// variable. Command[0] is looked up on PATH once, by New.
	Command []string

	// Env names variables of this process's environment passed to each
	// process. Nothing else is passed, not even PATH, HOME or LANG: a
	// secret of the server's (JWT_SECRET, cloud credentials) never reaches
	// a process unless named here.
	Env []string

	// EnvFromClaim sets variables of each process to claims of the
	// caller's verified token: NAME → "sub", "iss" or "scope" (scopes
	// joined by spaces). A claim with a control character refuses the
	// upgrade with 403 (reason "children.claim"). Without authentication
	// the values are empty.
	EnvFromClaim map[string]string

	// KillGrace is how long a process may take to exit once its session
	// ended and its stdin closed, before SIGTERM to its process group;
	// SIGKILL follows after as long again. Zero means DefaultKillGrace.
	KillGrace time.Duration

	// MaxProcesses bounds the processes at once, in total, counting those
	// on their way out after their session ended and what they left
	// behind; beyond it, upgrades get 503 (reason "children"). Zero means
	// DefaultMaxProcesses.
	MaxProcesses int

	// MaxProcessesPerIdentity bounds the live sessions with a process of
	// one identity (issuer and subject; without authentication every
	// caller is one identity); beyond it, 429 (reason
	// "children.identity"). A process on its way out no longer counts
	// here. Zero means DefaultMaxProcessesPerIdentity.
	MaxProcessesPerIdentity int

	// MaxMessageBytes bounds a line a process writes on stdout; a longer
	// one ends the session with 1011. Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int

	// MemoryLimit (RLIMIT_AS, bytes) and FilesLimit (RLIMIT_NOFILE) bound
	// each process; zero means none and inherited. They are set by a
	// helper, LimitsHelper, so that they hold from the process's first
	// instruction.
	MemoryLimit int64
	FilesLimit  uint64

	// LimitsHelper is the command line of a program that calls
	// [ExecWithLimits] with the arguments that follow it (this program,
	// usually, with an argument that selects the helper). The gateway
	// starts each process as LimitsHelper, the limits, "--", Command.
	// Required with MemoryLimit or FilesLimit.
	LimitsHelper []string

	// Policy, when set, decides what each caller may do in its session,
	// enforced by reading the messages relayed (see policy.Relay): calls,
	// reads, gets and subscriptions it refuses are answered by the gateway
	// and never reach the process, list results are filtered, updates of
	// resources the caller may not read are dropped, and the rates of its
	// rules are counted in this process. The caller is the identity that
	// opened the session: a token refreshed within it keeps that caller.
	Policy *policy.Policy

	// Audit, when set, receives one record per tool call, resource read
	// and prompt get of every session, as mcpws.Options.Audit does for a
	// server's: matched to the process's answer by its id; refusals of
	// the Policy, cancellations by the client, and calls left waiting when
	// the session ends (as cancelled) included. Records hold the size of
	// the arguments, never the arguments.
	Audit *audit.Options

	// Logger receives the gateway's log: processes started and stopped,
	// their stderr line by line (at most 100 lines a second per process).
	// Nil means slog.Default().
	Logger *slog.Logger
}

// claims names what EnvFromClaim may pass: what a verifier establishes
// about a caller.
var claims = []string{"sub", "iss", "scope"}

// Gateway runs one process per MCP session and relays between them. Plug
// [Gateway.Session] into mcpws.NewConnEndpoint (or wsmcp.NewConnHandler),
// its [Gateway.Hooks] into the transport's options, and call
// [Gateway.Shutdown] once the endpoint has drained.
//
// New makes this process a child subreaper and marks it not dumpable
// (see New); one Gateway may run in a process at a time.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	limits  []string                    // for LimitsHelper
	lookup  func(string) (string, bool) // this process's environment
	reaper  *reaper
	metrics *metrics
	caps    caps
	rates   middleware.RateCounter // the policy's rates

	mu       sync.Mutex
	live     map[*child]struct{} // started, not yet reaped
	children sync.WaitGroup      // every child until it is reaped

	stopReaper chan struct{}
	reaping    sync.WaitGroup
	shutdown   sync.Once
}

// running is set while a Gateway has not been shut down.
var running atomic.Bool

// New returns a Gateway for opts, or an error when opts cannot work (no
// Command, a command not found, a bad variable name or claim) or this
// process cannot host one.
//
// It changes this process, for as long as it runs: it becomes a child
// subreaper (prctl PR_SET_CHILD_SUBREAPER, undone by Shutdown), so that
// whatever a session's process starts comes back to the gateway when its
// parent dies, however it detached; and it is marked not dumpable (prctl
// PR_SET_DUMPABLE 0, not undone), so that the processes, which run as the
// same user, cannot read its environment or memory through /proc.
func New(opts *Options) (*Gateway, error) {
	if opts == nil || len(opts.Command) == 0 {
		return nil, errors.New("gateway: Options.Command is required")
	}
	o := *opts
	o.Command = slices.Clone(o.Command)
	path, err := exec.LookPath(o.Command[0])
	if err != nil {
		return nil, fmt.Errorf("gateway: command %q: %w", o.Command[0], err)
	}
	o.Command[0] = path
	for _, name := range o.Env {
		if !validEnvName(name) {
			return nil, fmt.Errorf("gateway: Env %q is not a variable name", name)
		}
	}
	for name, claim := range o.EnvFromClaim {
		if !validEnvName(name) || !slices.Contains(claims, claim) {
			return nil, fmt.Errorf("gateway: EnvFromClaim %s=%s: want NAME=claim, claim one of %s", name, claim, strings.Join(claims, ", "))
		}
	}
	switch {
	case o.KillGrace < 0, o.MaxProcesses < 0, o.MaxProcessesPerIdentity < 0, o.MaxMessageBytes < 0, o.MemoryLimit < 0:
		return nil, errors.New("gateway: negative Options")
	case (o.MemoryLimit > 0 || o.FilesLimit > 0) && len(o.LimitsHelper) == 0:
		return nil, errors.New("gateway: MemoryLimit and FilesLimit need a LimitsHelper")
	}
	o.KillGrace = or(o.KillGrace, DefaultKillGrace)
	o.MaxProcesses = or(o.MaxProcesses, DefaultMaxProcesses)
	o.MaxProcessesPerIdentity = or(o.MaxProcessesPerIdentity, DefaultMaxProcessesPerIdentity)
	o.MaxMessageBytes = or(o.MaxMessageBytes, DefaultMaxMessageBytes)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{opts: o, log: o.Logger, lookup: os.LookupEnv, live: map[*child]struct{}{}, stopReaper: make(chan struct{})}
	if o.Policy != nil {
		g.rates = middleware.NewLocalRateCounter()
	}
	if len(o.LimitsHelper) > 0 {
		o.LimitsHelper = slices.Clone(o.LimitsHelper)
		if o.LimitsHelper[0], err = exec.LookPath(o.LimitsHelper[0]); err != nil {
			return nil, fmt.Errorf("gateway: LimitsHelper: %w", err)
		}
	}
	if o.MemoryLimit > 0 {
		g.limits = append(g.limits, fmt.Sprintf("as=%d", o.MemoryLimit))
	}
	if o.FilesLimit > 0 {
		g.limits = append(g.limits, fmt.Sprintf("nofile=%d", o.FilesLimit))
	}

	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("gateway: another Gateway runs in this process")
	}
	// The processes run as this user: without this, each could read this
	// process's environment (JWT_SECRET) from /proc.
	if err := notDumpable(); err != nil {
		running.Store(false)
		return nil, fmt.Errorf("gateway: prctl(PR_SET_DUMPABLE): %w", err)
	}
	r, err := newReaper(g.log)
	if err != nil {
		running.Store(false)
		return nil, fmt.Errorf("gateway: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	g.reaper = r
	g.reaping.Go(func() { r.run(g.stopReaper) })
	g.metrics = newMetrics(g.Running)
	g.caps = newCaps(o.MaxProcesses, o.MaxProcessesPerIdentity, r.strayCount)
	return g, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Hooks returns the transport hooks that feed the gateway's metrics
// (connections, refusals, closes, messages): put them in the
// wsmcp.HandlerOptions of the endpoint that serves [Gateway.Session].
func (g *Gateway) Hooks() *wsmcp.Hooks { return g.metrics.hooks() }

// Metrics returns a handler that serves the gateway's metrics in the
// Prometheus text exposition format (version 0.0.4): processes running,
// started, failed and exited; spawn time; and, through [Gateway.Hooks],
// connections, refusals, closes and messages by direction and method.
// Serve it on a listener of its own, never beside /mcp.
func (g *Gateway) Metrics() http.Handler { return g.metrics }

// Running reports the processes counted against MaxProcesses now: the
// sessions' (with what they left behind, until it is all reaped) and the
// strays (processes that left a session before they could be tied to one).
func (g *Gateway) Running() int {
	return int(g.caps.running.Load()) + g.reaper.strayCount()
}

// Shutdown waits until every process has exited and been reaped, with
// everything it started, then stops the gateway. Call it once the
// endpoint's sessions have ended (after mcpws.Endpoint.Serve returns): each
// process is then on its way out, within twice KillGrace. If ctx ends
// first, every process group still running, and whatever the sessions
// started, gets SIGKILL; Shutdown waits up to 5 s more for them to be
// reaped and returns ctx's error.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.wait(ctx)
	if err != nil {
		g.log.Error("gateway: processes still running at shutdown; killing them", "count", g.Running())
		g.killAll()
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.wait(kctx)
	}
	g.shutdown.Do(func() {
		close(g.stopReaper)
		g.reaping.Wait()
		g.reaper.close()
		running.Store(false)
	})
	return err
}

// started and reaped keep the set of children killAll reaches.
func (g *Gateway) started(c *child) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[c] = struct{}{}
}

func (g *Gateway) reaped(c *child) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, c)
}

// killAll sends SIGKILL to the process group of every child not reaped
// yet, and to everything the sessions started: at exit, nothing the
// gateway started is left running.
func (g *Gateway) killAll() {
	g.mu.Lock()
	live := make([]*child, 0, len(g.live))
	for c := range g.live {
		live = append(live, c)
	}
	g.mu.Unlock()
	// Not under g.mu: a tree that empties gives its place back.
	for _, c := range live {
		c.signal(syscall.SIGKILL)
	}
	g.reaper.killAll()
}

// wait waits for every child, and everything the sessions started, to be
// reaped, or ctx to end.
func (g *Gateway) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.children.Wait(); close(done) }()
	select {
	case <-done:
		return g.reaper.idle(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}
