package wsmcp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// parkedSession returns a granted session whose socket c has dropped: it
// keeps what it is sent for the client.
func parkedSession(t *testing.T, c *conn) *session {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	h := NewHandler(func(*http.Request) *mcp.Server { return srv }, &HandlerOptions{Resumption: &ResumptionOptions{GracePeriod: time.Hour}})
	s := newSession(h, c, nil, nil)
	s.secret = "secret"
	s.initResult = []byte(`{"protocolVersion":"2025-11-25"}`)
	s.setLocked(nil) // parked, with c as its last socket
	return s
}

// The hooks of a parked session's messages run without the session's lock
// held: a hook that takes its time (or calls back into the transport) must
// not stall every other writer, the reader and a resume.
func TestParkedWriteHooksOutsideSessionLock(t *testing.T) {
	lim := limits{pingInterval: -1}.resolved(DefaultServerReadLimit)
	var s *session
	var underLock, messages, served atomic.Int32
	locked := func() {
		if s.mu.TryLock() {
			s.mu.Unlock()
		} else {
			underLock.Add(1)
		}
	}
	lim.hooks.Message = func(_ context.Context, dir Direction, _ string, _ int) {
		if dir == Out {
			messages.Add(1)
			locked()
		}
	}
	lim.hooks.Served = func(context.Context, string, time.Duration, int64) {
		served.Add(1)
		locked()
	}
	c := serverConn(t, &lim)
	s = parkedSession(t, c)
	id, _ := jsonrpc.MakeID("call")
	c.mu.Lock()
	c.inCalls[idKey(id)] = inCall{method: "tools/call", start: time.Now()}
	c.mu.Unlock()

	ctx := context.Background()
	for _, msg := range []jsonrpc.Message{
		&jsonrpc.Request{Method: "notifications/message", Params: []byte(`{}`)},
		&jsonrpc.Response{ID: id, Result: []byte(`{}`)},
	} {
		if err := s.Write(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if messages.Load() != 2 || served.Load() != 1 {
		t.Fatalf("hooks ran %d Message (want 2), %d Served (want 1)", messages.Load(), served.Load())
	}
	if n := underLock.Load(); n != 0 {
		t.Errorf("%d hook calls ran with the session lock held; want none", n)
	}
}

// A resume queues its answer and the replay without holding the session's
// lock (the new socket may be slow to take them), and still nothing new
// overtakes the replay: a message written meanwhile goes out after it.
func TestAttachQueuesOutsideSessionLock(t *testing.T) {
	lim := limits{pingInterval: -1, writeTimeout: time.Minute, maxQueueBytes: 10}.resolved(DefaultServerReadLimit)
	old := serverConn(t, &lim)
	s := parkedSession(t, old)
	for _, m := range []string{`{"jsonrpc":"2.0","method":"kept/1"}`, `{"jsonrpc":"2.0","method":"kept/2"}`} {
		if err := s.log.add([]byte(m), false); err != nil {
			t.Fatal(err)
		}
	}
	c := serverConn(t, &lim)
	// Stand in for a writer that makes no progress, with a full queue.
	c.mu.Lock()
	c.writing, c.queued = true, 10
	c.mu.Unlock()

	id, _ := jsonrpc.MakeID(resumeID)
	attached := make(chan bool, 1)
	go func() { attached <- s.attach(c, &jsonrpc.Request{ID: id, Method: "initialize"}, 0, "") }()
	waitUntil(t, "the resume answer to wait for room", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiters > 0
	})
	if !s.mu.TryLock() {
		t.Fatal("the session lock is held while the resume answer waits for the new socket")
	}
	s.mu.Unlock()
	wrote := make(chan error, 1)
	go func() {
		wrote <- s.Write(context.Background(), &jsonrpc.Request{Method: "new/1", Params: []byte(`{}`)})
	}()
	// The write waits for the resume: had it been kept for replay while
	// the replay was being queued, the client would never get it.
	select {
	case err := <-wrote:
		t.Fatalf("a write finished while the resume was still being queued (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Room: the answer, the replay and then the new message are queued.
	c.mu.Lock()
	c.queued = 0
	lim.maxQueueBytes = 1 << 20
	c.broadcastLocked()
	c.mu.Unlock()
	if !<-attached {
		t.Fatal("attach failed")
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	var order []string
	for _, data := range c.queue {
		switch s := string(data); {
		case strings.Contains(s, resumeID):
			order = append(order, "answer")
		case strings.Contains(s, "kept/1"):
			order = append(order, "kept/1")
		case strings.Contains(s, "kept/2"):
			order = append(order, "kept/2")
		case strings.Contains(s, "new/1"):
			order = append(order, "new/1")
		}
	}
	c.mu.Unlock()
	if got, want := strings.Join(order, " "), "answer kept/1 kept/2 new/1"; got != want {
		t.Errorf("queued %q, want %q", got, want)
	}
}

// lockProbe is a slog.Handler that counts the records with message msg
// logged while the session's lock is held.
type lockProbe struct {
	s             **session
	msg           string
	seen, underMu *atomic.Int32
}

func (p lockProbe) Enabled(context.Context, slog.Level) bool { return true }
func (p lockProbe) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p lockProbe) WithGroup(string) slog.Handler            { return p }
func (p lockProbe) Handle(_ context.Context, r slog.Record) error {
	if r.Message != p.msg {
		return nil
	}
	p.seen.Add(1)
	if (*p.s).mu.TryLock() {
		(*p.s).mu.Unlock()
	} else {
		p.underMu.Add(1)
	}
	return nil
}

// A session parks without logging under its lock: the logger is the
// user's, and may take its time.
func TestParkLogsOutsideSessionLock(t *testing.T) {
	var s *session
	var seen, underMu atomic.Int32
	logger := slog.New(lockProbe{s: &s, msg: "wsmcp: session parked", seen: &seen, underMu: &underMu})
	lim := limits{pingInterval: -1}.resolved(DefaultServerReadLimit)
	c := serverConn(t, &lim)
	var b budgets
	c.flights = b.newFlights("", 1<<20)
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	h := NewHandler(func(*http.Request) *mcp.Server { return srv },
		&HandlerOptions{ConnOptions: ConnOptions{Logger: logger}, Resumption: &ResumptionOptions{GracePeriod: time.Hour}})
	s = newSession(h, c, nil, nil)
	s.secret = "secret"
	defer s.end(ErrClosed)
	c.mu.Lock()
	c.status.code = websocket.StatusAbnormalClosure // the client vanished
	c.mu.Unlock()
	s.dropped(c, io.ErrUnexpectedEOF)
	if seen.Load() != 1 {
		t.Fatalf("%d parked log lines, want 1", seen.Load())
	}
	if underMu.Load() != 0 {
		t.Error("the parked log line was written with the session lock held")
	}
}

// A write while the reconnecting client has no socket waits for the next
// one without holding the lock (the reader needs it to redial), and
// returns the final error when redialing gives up.
func TestRedialerWriteWaitsOutsideLock(t *testing.T) {
	r := &redialer{socketSeq: socketSeq{changed: make(chan struct{})}, listens: map[any]*listen{}}
	wrote := make(chan error, 1)
	go func() {
		wrote <- r.Write(context.Background(), &jsonrpc.Request{Method: "notifications/message", Params: []byte(`{}`)})
	}()
	select {
	case err := <-wrote:
		t.Fatalf("Write = %v with no socket; want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	if !r.mu.TryLock() {
		t.Fatal("the lock is held while a write waits for a socket")
	}
	r.mu.Unlock()
	r.end(ErrReconnectFailed)
	if err := <-wrote; !errors.Is(err, ErrReconnectFailed) {
		t.Errorf("Write = %v, want the final error", err)
	}
}
