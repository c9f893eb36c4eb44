package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// drainTimeout is the examples' default drain deadline.
const drainTimeout = 15 * time.Second

// mcpSocket is a raw client session: it reads only when told to, so the
// test sees each message and the close code as the server sent them.
type mcpSocket struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialMCP opens and initializes a session at ws://addr/mcp.
func dialMCP(t *testing.T, addr string, header http.Header) *mcpSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/mcp", &websocket.DialOptions{Subprotocols: []string{"mcp"}, HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	s := &mcpSocket{t: t, ws: ws}
	s.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"drain","version":"1"}}}`)
	if m, err := s.read(); err != nil || m.ID != 0 || m.Result == nil {
		t.Fatalf("initialize: %v %+v", err, m)
	}
	s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return s
}

func (s *mcpSocket) send(msg string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// reply is a JSON-RPC response, as much of it as the tests look at.
type reply struct {
	ID     int
	Result *struct {
		Content []struct{ Text string }
	}
	Error *struct {
		Code    int
		Message string
	}
}

func (r reply) String() string {
	switch {
	case r.Result != nil && len(r.Result.Content) > 0:
		return r.Result.Content[0].Text
	case r.Error != nil:
		return fmt.Sprintf("error %d %s", r.Error.Code, r.Error.Message)
	}
	return "?"
}

// read reads the next response (notifications are skipped).
func (s *mcpSocket) read() (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			return reply{}, err
		}
		var m struct {
			reply
			Method string
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return reply{}, fmt.Errorf("not JSON: %q", data)
		}
		if m.Method == "" {
			return m.reply, nil
		}
	}
}

// call sends tools/call with id and waits for the reply.
func (s *mcpSocket) call(id int, tool, args string) reply {
	s.t.Helper()
	s.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args))
	m, err := s.read()
	if err != nil || m.ID != id {
		s.t.Fatalf("call %s: %v %+v", tool, err, m)
	}
	return m
}

// closeCode reads until the socket closes and returns how it closed.
func (s *mcpSocket) closeCode() websocket.StatusCode {
	for {
		if _, err := s.read(); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// sigterm sends SIGTERM to the example and returns once it has exited.
func sigterm(t *testing.T, p *proc) (exit chan error) {
	t.Helper()
	exit = make(chan error, 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exit <- p.cmd.Wait() }()
	return exit
}

// exited waits (bounded) for the process to end and checks it exited 0.
func exited(t *testing.T, p *proc, exit chan error) {
	t.Helper()
	select {
	case err := <-exit:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("exit status %d after SIGTERM, want 0\n%s", ee.ExitCode(), p.Logs())
		} else if err != nil {
			t.Error(err)
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM", drainTimeout+5*time.Second)
	}
}

// SIGTERM on every example drains: a call in flight completes with its
// result, the socket then closes with 1001, and the process exits 0,
// within the drain deadline. examples/everything has a sleep tool to hold
// a call in flight; the others answer at once, so their call completes
// before the signal and the session is still open when it arrives.
func TestSIGTERMDrains(t *testing.T) {
	const servemuxResource = "http://mcp.example.test/mcp"
	tests := []struct {
		example string
		env     []string
		args    []string
		header  func(t *testing.T) http.Header
		tool    string // called before the signal
		args2   string
		want    string
	}{
		{example: "everything", tool: "echo", args2: `{"text":"hi"}`, want: "hi"},
		{example: "servemux", env: []string{"MCP_JWT_SECRET=" + testSecret}, args: []string{"-resource", servemuxResource},
			header: func(t *testing.T) http.Header {
				return http.Header{"Authorization": {"Bearer " + testToken(t, "dana", servemuxResource, "")}}
			},
			tool: "whoami", args2: `{}`, want: "dana"},
		{example: "prometheus", tool: "echo", args2: `{"text":"hi"}`, want: "hi"},
		{example: "hello", tool: "greet", args2: `{"name":"drain"}`, want: "Hello, drain!"},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			p := startExample(t, tt.example, tt.env, tt.args...)
			var h http.Header
			if tt.header != nil {
				h = tt.header(t)
			}
			s := dialMCP(t, p.addr, h)
			if got := s.call(1, tt.tool, tt.args2).String(); got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.tool, got, tt.want)
			}
			const slept = 1500
			if tt.example == "everything" {
				// A call in flight: a ping sent after it is answered once the
				// server has read (and admitted) the call.
				s.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":%d}}}`, slept))
				s.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
				if m, err := s.read(); err != nil || m.ID != 3 {
					t.Fatalf("ping: %v %+v", err, m)
				}
			}
			start := time.Now()
			exit := sigterm(t, p)
			if tt.example == "everything" {
				m, err := s.read()
				if err != nil || m.ID != 2 || m.String() != fmt.Sprintf("slept %d ms", slept) {
					t.Fatalf("the call in flight got %+v (%v), want its result", m, err)
				}
			}
			if code := s.closeCode(); code != websocket.StatusGoingAway {
				t.Errorf("the socket closed with %d, want 1001", code)
			}
			exited(t, p, exit)
			took := time.Since(start)
			t.Logf("%s: exit %v after SIGTERM", tt.example, took.Round(time.Millisecond))
			if took > drainTimeout {
				t.Errorf("the drain took %v, past the %v deadline", took, drainTimeout)
			}
		})
	}
}

// With -drain-delay, /readyz answers 503 from the moment of SIGTERM while
// the listener keeps serving; the session then closes with 1001 (on
// everything, after the call in flight completed) and the process exits 0
// after the delay.
func TestSIGTERMReadiness(t *testing.T) {
	const delay = 2 * time.Second
	const resource = "http://mcp.example.test/mcp"
	tests := []struct {
		example string
		env     []string
		args    []string
		header  http.Header
	}{
		{example: "everything"},
		{example: "servemux", env: []string{"MCP_JWT_SECRET=" + testSecret}, args: []string{"-resource", resource},
			header: http.Header{"Authorization": {"Bearer " + testToken(t, "dana", resource, "")}}},
		{example: "prometheus"},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			p := startExample(t, tt.example, tt.env, append(tt.args, "-drain-delay", delay.String())...)
			ready := func() int {
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				resp, err := c.Get("http://" + p.addr + "/readyz")
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := ready(); code != http.StatusOK {
				t.Fatalf("/readyz before SIGTERM = %d, want 200", code)
			}
			s := dialMCP(t, p.addr, tt.header)
			if tt.example == "everything" {
				s.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":3000}}}`)
				s.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
				if m, err := s.read(); err != nil || m.ID != 3 {
					t.Fatalf("ping: %v %+v", err, m)
				}
			}

			start := time.Now()
			exit := sigterm(t, p)
			// The signal is handled asynchronously: poll until readiness
			// turns off. A 503 is the listener still serving: once the
			// delay is over it accepts nothing (0). The delay is hundreds of
			// times what handling the signal and a probe take.
			code := ready()
			for deadline := time.Now().Add(delay + 10*time.Second); code == http.StatusOK && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				code = ready()
			}
			if code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz after SIGTERM = %d, want 503 during the drain delay", code)
			}
			t.Logf("/readyz answered 503 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
			if tt.example == "everything" {
				if m, err := s.read(); err != nil || m.ID != 2 || !strings.HasPrefix(m.String(), "slept") {
					t.Fatalf("the call in flight got %+v (%v), want its result", m, err)
				}
			}
			if code := s.closeCode(); code != websocket.StatusGoingAway {
				t.Errorf("the socket closed with %d, want 1001", code)
			}
			exited(t, p, exit)
			if took := time.Since(start); took < delay || took > delay+drainTimeout {
				t.Errorf("exited %v after SIGTERM, want between the %v delay and the deadline", took, delay)
			}
		})
	}
}

// A call that outlives -drain-timeout is cut at the deadline: the socket
// closes, the process exits (status 1, the drain was not clean) no sooner
// than the deadline and within 5 s of it, and says why.
func TestSIGTERMDeadline(t *testing.T) {
	const timeout = time.Second
	p := startEverything(t, "-drain-timeout", timeout.String())
	s := dialMCP(t, p.addr, nil)
	s.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":60000}}}`)
	s.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	if m, err := s.read(); err != nil || m.ID != 3 {
		t.Fatalf("ping: %v %+v", err, m)
	}
	start := time.Now()
	exit := sigterm(t, p)
	if code := s.closeCode(); code != websocket.StatusGoingAway {
		t.Errorf("the socket closed with %d, want 1001", code)
	}
	select {
	case err := <-exit:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("exit = %v, want status 1 after a drain cut short", err)
		}
	case <-time.After(timeout + 5*time.Second):
		t.Fatal("still running 5s past the drain deadline")
	}
	// Never before the deadline; after it, the bounded wait above allows
	// 5 s, over ten times the CloseGrace the drain may overrun by.
	took := time.Since(start)
	t.Logf("exit %v after SIGTERM with a %v drain timeout", took.Round(time.Millisecond), timeout)
	if took < timeout {
		t.Errorf("exited %v after SIGTERM, before the %v deadline", took, timeout)
	}
	if logs := p.Logs(); !strings.Contains(logs, "deadline exceeded") {
		t.Errorf("the cut drain is not logged:\n%s", logs)
	}
}
