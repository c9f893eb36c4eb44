package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/textconn"
	"github.com/mcpws/mcpws/wsmcp"
)

// Close reasons the client sees when the process behind its session
// fails. Fixed strings: a process's output never reaches a close frame.
const (
	reasonChildExited  = "MCP server process exited"
	reasonChildFailed  = "MCP server process failed to start"
	reasonChildTooBig  = "MCP server process sent a message over the limit"
	reasonChildsBusy   = "too many MCP server processes"
	reasonChildStuck   = "MCP server process is not reading its input"
	stdoutBufferBytes  = 4 << 10
	maxKeptLineBytes   = 64 << 10
	refusedChildren    = "children"
	refusedChildrenID  = "children.identity"
	refusedChildrenMsg = "mcpws serve: too many MCP server processes running; retry later"
	refusedClaim       = "children.claim"
	refusedClaimMsg    = "mcpws serve: a token claim passed to the MCP server process has a control character"
	refusedChildIDMsg  = "mcpws serve: too many MCP server processes for this caller; close a session first"
)

// gateway runs one child per MCP session and relays between them.
type gateway struct {
	cfg     *serveConfig
	log     *slog.Logger
	self    string // this executable, for --rlimit-exec
	limits  []string
	metrics *metrics
	lookup  func(string) (string, bool) // the gateway's environment
	reaper  *reaper

	mu       sync.Mutex
	running  int
	perID    map[string]int
	live     map[*child]struct{} // started, not yet reaped
	children sync.WaitGroup      // every child until it is reaped
}

func newGateway(cfg *serveConfig, log *slog.Logger, m *metrics, r *reaper) (*gateway, error) {
	g := &gateway{cfg: cfg, log: log, metrics: m, lookup: os.LookupEnv, reaper: r, perID: map[string]int{}, live: map[*child]struct{}{}}
	if cfg.childMemory > 0 {
		g.limits = append(g.limits, fmt.Sprintf("as=%d", cfg.childMemory))
	}
	if cfg.childFiles > 0 {
		g.limits = append(g.limits, fmt.Sprintf("nofile=%d", cfg.childFiles))
	}
	if len(g.limits) > 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding this executable for the child limits: %w", err)
		}
		g.self = self
	}
	return g, nil
}

// getServe is the gateway's wsmcp getServe function: before the upgrade it
// refuses a caller when its processes, or all, are at their bound; the
// process itself starts with the session's first message, so that a
// socket that resumes another session starts none.
func (g *gateway) getServe(r *http.Request) (wsmcp.ServeConnFunc, error) {
	info := wsmcp.TokenInfoFromContext(r.Context())
	key := identity.Key(info)
	if err := g.admit(key); err != nil {
		return nil, err
	}
	env, ok := g.cfg.childEnv(g.lookup, claimOf(info))
	if !ok {
		return nil, &wsmcp.Refusal{Status: http.StatusForbidden, Reason: refusedClaim, Message: refusedClaimMsg}
	}
	return func(ctx context.Context, conn mcp.Connection) error {
		tc, ok := conn.(textconn.Conn)
		if !ok {
			return fmt.Errorf("mcpws serve: a session of type %T cannot be relayed", conn)
		}
		s := &relay{g: g, conn: conn, text: tc, key: key, env: env}
		go s.run(ctx)
		return nil
	}, nil
}

// admit reports, as a *wsmcp.Refusal, whether the bounds are reached.
func (g *gateway) admit(key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The caller's own bound first: 429 tells it that it is over its share.
	switch {
	case g.perID[key] >= g.cfg.maxChildrenID:
		g.metrics.refusedChildren.Add(1)
		return &wsmcp.Refusal{Status: http.StatusTooManyRequests, Reason: refusedChildrenID, Message: refusedChildIDMsg}
	case g.running+g.reaper.strayCount() >= g.cfg.maxChildren:
		g.metrics.refusedChildren.Add(1)
		return &wsmcp.Refusal{Status: http.StatusServiceUnavailable, Reason: refusedChildren, Message: refusedChildrenMsg}
	}
	return nil
}

// take counts a child about to start, against the total and its caller's
// share, or reports false when a bound was reached since admit (upgrades
// racing for the last places).
func (g *gateway) take(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running+g.reaper.strayCount() >= g.cfg.maxChildren || g.perID[key] >= g.cfg.maxChildrenID {
		return false
	}
	g.running++
	g.perID[key]++
	g.children.Add(1)
	return true
}

// leave uncounts a session from its caller's share when it ends: a caller
// is bounded by its live sessions, not by processes still on their way out
// (which count against the total until release).
func (g *gateway) leave(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perID[key]--; g.perID[key] == 0 {
		delete(g.perID, key)
	}
}

// release uncounts a child from the total once it, and everything it
// started, is reaped, or when it never started.
func (g *gateway) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	g.children.Done()
}

// started and reaped keep the set of children killAll reaches.
func (g *gateway) started(c *child) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[c] = struct{}{}
}

func (g *gateway) reaped(c *child) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, c)
}

// killAll sends SIGKILL to the process group of every child not reaped
// yet, and to everything the sessions started: at exit, nothing the
// gateway started is left running.
func (g *gateway) killAll() {
	g.mu.Lock()
	live := make([]*child, 0, len(g.live))
	for c := range g.live {
		live = append(live, c)
	}
	g.mu.Unlock()
	// Not under g.mu: a tree that empties gives its place back (release).
	for _, c := range live {
		c.signal(syscall.SIGKILL)
	}
	g.reaper.killAll()
}

// Running reports the processes counted against -max-children now: the
// sessions' (with what they left behind) and the strays.
func (g *gateway) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running + g.reaper.strayCount()
}

// wait waits for every child, and everything the sessions started, to be
// reaped, or ctx to end.
func (g *gateway) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.children.Wait(); close(done) }()
	select {
	case <-done:
		return g.reaper.idle(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// claimOf returns what --env-from-claim passes of the caller's token.
func claimOf(info *auth.TokenInfo) func(string) string {
	return func(claim string) string {
		if info == nil {
			return ""
		}
		switch claim {
		case "sub":
			return info.UserID
		case "iss":
			iss, _ := info.Extra["iss"].(string)
			return iss
		case "scope":
			return strings.Join(info.Scopes, " ")
		}
		return ""
	}
}

// relay is one session and its child.
type relay struct {
	g    *gateway
	conn mcp.Connection
	text textconn.Conn // conn, its messages as text
	key  string
	env  []string
	// clientGone is set when the session ended on the client's side (or
	// the transport's: limits, drain); otherwise the child ended it.
	clientGone atomic.Bool
	// stuck is set when the session was closed because the child did not
	// read its input.
	stuck atomic.Bool
	// ended uncounts the session from its caller's share, once.
	ended sync.Once
}

// end marks the session over for its caller's share; the process may
// still be on its way out.
func (s *relay) end() { s.ended.Do(func() { s.g.leave(s.key) }) }

// run starts the child at the session's first message and copies the
// client's messages to the child's stdin until the session ends.
func (s *relay) run(ctx context.Context) {
	first, err := s.text.ReadText(ctx)
	if err != nil {
		// No session here: the socket resumed another one, or closed.
		s.conn.Close()
		return
	}
	log := s.g.log.With("session", s.conn.SessionID())
	if !s.g.take(s.key) {
		log.Warn("mcpws serve: process bound reached after the upgrade")
		s.text.CloseWith(websocket.StatusTryAgainLater, reasonChildsBusy)
		return
	}
	start := time.Now()
	var c *child
	tree, err := s.g.reaper.start(func() (int, error) {
		var err error
		c, err = startChild(spawnSpec{argv: s.g.cfg.command, env: s.env, grace: s.g.cfg.killGrace, self: s.g.self, limits: s.g.limits, log: log})
		if err != nil {
			return 0, err
		}
		return c.cmd.Process.Pid, nil
	}, s.g.release) // the total's place is given back once all of it is gone
	if err != nil {
		s.end()
		s.g.release()
		s.g.metrics.spawnFailures.Add(1)
		log.Error("mcpws serve: starting the MCP server process", "error", err.Error())
		s.text.CloseWith(websocket.StatusInternalError, reasonChildFailed)
		return
	}
	c.tree = tree
	s.g.started(c)
	s.g.metrics.spawned(time.Since(start))
	log.Info("mcpws serve: process started", "pid", c.cmd.Process.Pid)
	go s.fromChild(ctx, c, log)

	in := &backlog{wake: make(chan struct{}, 1)}
	go s.toChild(c, in, log)
	// Reading goes on whatever the child does with its stdin, so that the
	// end of the session is seen, and the child stopped, even when it has
	// stopped reading and the pipe is full.
	data := first
	for {
		if !in.push(oneLine(data)) {
			log.Warn("mcpws serve: process is not reading its input; ending the session", "backlog", maxStdinBacklog)
			s.stuck.Store(true)
			s.text.CloseWith(websocket.StatusInternalError, reasonChildStuck)
			s.end()
			in.close()
			c.stop()
			return
		}
		if data, err = s.text.ReadText(ctx); err != nil {
			s.clientGone.Store(true)
			s.end()
			in.close()
			c.stop()
			return
		}
	}
}

// toChild writes what the client sent to the child's stdin, until the
// backlog is closed or the child's stdin is (stop closes it, which ends a
// write in progress).
func (s *relay) toChild(c *child, in *backlog, log *slog.Logger) {
	for {
		data, ok := in.pop()
		if !ok {
			return
		}
		if _, err := c.stdin.Write(data); err != nil {
			// The child is gone or closed its stdin: fromChild sees it end.
			log.Debug("mcpws serve: writing to the process", "error", err.Error())
			c.stop()
			return
		}
	}
}

// fromChild copies the child's stdout, one JSON-RPC message a line, to the
// session until it ends, then reaps the child and ends the session.
func (s *relay) fromChild(ctx context.Context, c *child, log *slog.Logger) {
	br := bufio.NewReaderSize(c.stdout, stdoutBufferBytes)
	reason := reasonChildExited
	writing := true
	var line []byte
	for {
		var tooLong bool
		var err error
		line, tooLong, err = readLine(br, line[:0], int64(s.g.cfg.maxLineBytes))
		if tooLong {
			log.Warn("mcpws serve: process sent a message over the limit; ending the session", "limit", s.g.cfg.maxLineBytes)
			reason = reasonChildTooBig
			break
		}
		if len(bytes.TrimSpace(line)) > 0 && writing {
			// Checked, and sent as the process wrote it.
			werr := s.text.WriteText(ctx, line)
			if errors.Is(werr, wsmcp.ErrInvalidMessage) {
				// Not protocol: a server that prints to stdout by mistake.
				log.Warn("mcpws serve: process wrote a line on stdout that is not JSON-RPC; dropped", "bytes", len(line))
			} else if werr != nil {
				// The session is over; keep draining stdout so that the
				// child can see its stdin close and exit.
				writing = false
				c.stop()
			}
		}
		if err != nil {
			break
		}
		line = reuseLine(line)
	}
	ended := !s.clientGone.Load()
	if ended && !s.stuck.Load() {
		// The child ended the session: tell the client, then reap.
		s.text.CloseWith(websocket.StatusInternalError, reason)
	}
	s.end()
	c.stop()
	how := c.wait()
	s.g.reaped(c)
	// What it started is being killed; the place in -max-children is
	// given back once all of it is reaped.
	attrs := []any{"pid", c.cmd.Process.Pid, "how", how}
	if left := c.tree.wait(s.g.cfg.killGrace); left > 0 {
		attrs = append(attrs, "left", left)
	}
	s.g.metrics.exited(ended)
	if ended {
		log.Warn("mcpws serve: process ended the session", append(attrs, "close", reason)...)
	} else {
		log.Info("mcpws serve: process stopped", attrs...)
	}
	s.conn.Close()
}

// oneLine returns a client's message as one line of the process's stdin.
// A message with line breaks between its tokens (JSON allows them, the
// stdio framing does not; inside a string they are escaped) is compacted;
// any other passes as the client wrote it.
func oneLine(data []byte) []byte {
	if bytes.ContainsAny(data, "\r\n") {
		var b bytes.Buffer
		if json.Compact(&b, data) == nil {
			data = b.Bytes()
		}
	}
	return append(data, '\n')
}

// reuseLine returns line emptied for the next one, or nil when it grew over
// maxKeptLineBytes: one large message does not pin its buffer for the rest
// of a session that is mostly idle.
func reuseLine(line []byte) []byte {
	if cap(line) > maxKeptLineBytes {
		return nil
	}
	return line[:0]
}
