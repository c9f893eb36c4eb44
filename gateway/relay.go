//go:build linux

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/lines"
	"github.com/mcpws/mcpws/internal/textconn"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// Sizes of the relay's buffers.
const (
	stdoutBufferBytes = 4 << 10
	maxKeptLineBytes  = 64 << 10
)

// A claim that cannot be passed refuses the upgrade.
const (
	refusedClaim    = "children.claim"
	refusedClaimMsg = "a token claim passed to the MCP server process has a control character"
)

// Session is the getServe function of mcpws.NewConnEndpoint and
// wsmcp.NewConnHandler: before the upgrade it refuses a caller whose
// processes, or all, are at their bound (429 or 503, see [Options]), and
// otherwise returns the function that relays the session to a process of
// its own. The process starts with the session's first message, so that a
// socket that only resumes another session starts none.
func (g *Gateway) Session(r *http.Request) (wsmcp.ServeConnFunc, error) {
	info := wsmcp.TokenInfoFromContext(r.Context())
	key := identity.Key(info)
	if err := g.caps.admit(r.Context(), key); err != nil {
		g.metrics.refusedChildren.Add(1)
		return nil, err
	}
	env, ok := g.childEnv(claimOf(info))
	if !ok {
		return nil, &wsmcp.Refusal{Status: http.StatusForbidden, Reason: refusedClaim, Message: refusedClaimMsg}
	}
	return func(ctx context.Context, conn mcp.Connection) error {
		tc, ok := conn.(textconn.Conn)
		if !ok {
			return fmt.Errorf("gateway: a session of type %T cannot be relayed", conn)
		}
		s := &relay{g: g, front: wsFront{conn, tc}, key: key, env: env}
		if p := g.opts.Policy; p != nil {
			who := key
			if who == "" {
				who = "session\x00" + conn.SessionID()
			}
			var c policy.Caller
			if info != nil {
				c = policy.CallerOf(info, p.Claim())
			}
			s.guard = p.Relay(c, who, g.rates)
		}
		if g.opts.Audit != nil {
			transport := "websocket"
			if t, ok := conn.(interface{ Transport() string }); ok {
				transport = t.Transport()
			}
			s.audit = newAuditTrail(ctx, g.opts.Audit.Record, info, conn.SessionID(), transport)
		}
		go s.run(ctx)
		return nil
	}, nil
}

// childEnv is the environment of a process: the variables of Env that are
// set here, then EnvFromClaim's, by name. It reports false when a claim
// value has a control character (a newline or a NUL, say), which a process
// could take for more than one value.
func (g *Gateway) childEnv(claim func(string) string) ([]string, bool) {
	env := make([]string, 0, len(g.opts.Env)+len(g.opts.EnvFromClaim))
	for _, name := range g.opts.Env {
		if v, ok := g.lookup(name); ok {
			env = append(env, name+"="+v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.opts.EnvFromClaim)) {
		v := claim(g.opts.EnvFromClaim[name])
		if strings.ContainsFunc(v, unicode.IsControl) {
			return nil, false
		}
		env = append(env, name+"="+v)
	}
	return env, true
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
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
	g     *Gateway
	front front
	key   string
	env   []string
	guard *policy.Relay // the policy on this session's messages; nil for none
	audit *auditTrail   // nil for none
	// leave gives back the session's place in its caller's share, and
	// release the process's place in the total.
	leave, release func()
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
func (s *relay) end() { s.ended.Do(s.leave) }

// run starts the child at the session's first message and copies the
// client's messages to the child's stdin until the session ends.
func (s *relay) run(ctx context.Context) {
	first, err := s.front.ReadText(ctx)
	if err != nil {
		// No session here: the socket resumed another one, or closed.
		s.front.Close()
		return
	}
	log := s.g.log.With("session", s.front.SessionID())
	if s.leave, s.release, err = s.g.caps.take(ctx, s.key); err != nil {
		log.Warn("gateway: process bound reached after the upgrade")
		s.front.fail(failBusy)
		return
	}
	s.g.children.Add(1)
	release := s.release
	s.release = func() { release(); s.g.children.Done() }
	start := time.Now()
	var c *child
	tree, err := s.g.reaper.start(func() (int, error) {
		var err error
		c, err = startChild(spawnSpec{argv: s.g.opts.Command, env: s.env, grace: s.g.opts.KillGrace, helper: s.g.opts.LimitsHelper, limits: s.g.limits, log: log})
		if err != nil {
			return 0, err
		}
		return c.cmd.Process.Pid, nil
	}, s.release) // the total's place is given back once all of it is gone
	if err != nil {
		s.end()
		s.release()
		s.g.metrics.spawnFailures.Add(1)
		log.Error("gateway: starting the MCP server process", "error", err.Error())
		s.front.fail(failStart)
		return
	}
	c.tree = tree
	s.g.started(c)
	s.g.metrics.spawned(time.Since(start))
	log.Info("gateway: process started", "pid", c.cmd.Process.Pid)
	go s.fromChild(ctx, c, log)

	in := &backlog{wake: make(chan struct{}, 1)}
	go s.toChild(c, in, log)
	// Reading goes on whatever the child does with its stdin, so that the
	// end of the session is seen, and the child stopped, even when it has
	// stopped reading and the pipe is full.
	data := first
	for {
		// A message the policy refuses is answered, not pushed.
		if s.admit(ctx, data) && !in.push(oneLine(data)) {
			log.Warn("gateway: process is not reading its input; ending the session", "backlog", maxStdinBacklog)
			s.stuck.Store(true)
			s.front.fail(failStuck)
			s.end()
			in.close()
			c.stop()
			return
		}
		if data, err = s.front.ReadText(ctx); err != nil {
			s.clientGone.Store(true)
			s.end()
			in.close()
			c.stop()
			return
		}
	}
}

// admit reports whether a client's message goes on to the process; one
// the policy refuses is answered here instead.
func (s *relay) admit(ctx context.Context, data []byte) bool {
	pass := true
	var answer []byte
	if s.guard != nil {
		answer, pass = s.guard.FromClient(ctx, data)
		if answer != nil {
			_ = s.front.WriteText(ctx, answer)
		}
	}
	if s.audit != nil {
		s.audit.fromClient(data, answer)
	}
	return pass
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
			log.Debug("gateway: writing to the process", "error", err.Error())
			c.stop()
			return
		}
	}
}

// fromChild copies the child's stdout, one JSON-RPC message a line, to the
// session until it ends, then reaps the child and ends the session.
func (s *relay) fromChild(ctx context.Context, c *child, log *slog.Logger) {
	br := bufio.NewReaderSize(c.stdout, stdoutBufferBytes)
	why := failExited
	writing := true
	var line []byte
	for {
		var tooLong bool
		var err error
		line, tooLong, err = lines.Read(br, line[:0], int64(s.g.opts.MaxMessageBytes))
		if tooLong {
			log.Warn("gateway: process sent a message over the limit; ending the session", "limit", s.g.opts.MaxMessageBytes)
			why = failTooBig
			break
		}
		out := line
		if len(bytes.TrimSpace(line)) == 0 {
			out = nil
		} else {
			if s.audit != nil {
				s.audit.fromProcess(line)
			}
			if s.guard != nil {
				out = s.guard.FromServer(line) // nil: not for this caller
			}
		}
		if out != nil && writing {
			// Checked, and sent as the process wrote it.
			werr := s.front.WriteText(ctx, out)
			if errors.Is(werr, wsmcp.ErrInvalidMessage) {
				// Not protocol: a server that prints to stdout by mistake.
				log.Warn("gateway: process wrote a line on stdout that is not JSON-RPC; dropped", "bytes", len(line))
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
		s.front.fail(why)
	}
	s.end()
	c.stop()
	how := c.wait()
	s.g.reaped(c)
	// What it started is being killed; the place in MaxProcesses is
	// given back once all of it is reaped.
	attrs := []any{"pid", c.cmd.Process.Pid, "how", how}
	if left := c.tree.wait(s.g.opts.KillGrace); left > 0 {
		attrs = append(attrs, "left", left)
	}
	s.g.metrics.exited(ended)
	if ended {
		log.Warn("gateway: process ended the session", append(attrs, "close", why.String())...)
	} else {
		log.Info("gateway: process stopped", attrs...)
	}
	if s.audit != nil {
		s.audit.end()
	}
	s.front.Close()
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
