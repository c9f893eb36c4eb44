//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/mcpws/mcpws/internal/testlog"
)

// Close reasons of the gateway's, as docs/gateway.md gives them.
const (
	reasonChildExited = "MCP server process exited"
	reasonChildTooBig = "MCP server process sent a message over the limit"
	reasonChildStuck  = "MCP server process is not reading its input"
)

const (
	testSecret   = "serve-test-secret-0123456789abcdef0123"
	testAudience = "https://gw.example.test/mcp"
	initialize   = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
)

// gatewayProc is a gateway run in this process by runServe.
type gatewayProc struct {
	addr string
	log  *testlog.Buffer
	stop func() // ends the gateway and checks how it exited; once
}

// startGateway runs "mcpws serve args..." on a free loopback port until
// the test ends, then checks that it drained and exited 0.
func startGateway(t *testing.T, args ...string) *gatewayProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	g := &gatewayProc{log: &testlog.Buffer{}}
	code := make(chan int, 1)
	go func() {
		code <- runServe(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), outW, g.log)
		outW.Close()
	}()
	br := bufio.NewReader(outR)
	line, err := br.ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("gateway did not start: %v\n%s", err, g.log)
	}
	go io.Copy(io.Discard, br)
	g.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	g.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("gateway exited %d\n%s", c, g.log)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("gateway did not exit\n%s", g.log)
		}
	})
	t.Cleanup(g.stop)
	return g
}

func (g *gatewayProc) url() string { return "ws://" + g.addr + "/mcp" }

// waitLog waits (up to 10 s) for a log line containing all of parts.
func (g *gatewayProc) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for line := range strings.Lines(g.log.String()) {
			if allIn(line, parts) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", parts, g.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allIn(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// dial opens a raw socket to the gateway, with a bearer token if not empty.
func dial(t *testing.T, url, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var h http.Header
	if token != "" {
		h = http.Header{"Authorization": {"Bearer " + token}}
	}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}, HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func send(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// readClose reads until the socket closes and returns how.
func readClose(t *testing.T, ws *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: %v, want a close frame", err)
			}
			return ce
		}
	}
}

// children returns the pids of this process's live (not zombie) children
// other than exclude, and the zombies among them.
func children(t *testing.T) (live, zombies []int) {
	t.Helper()
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		f := strings.Fields(rest)
		if ppid, _ := strconv.Atoi(f[1]); ppid != me {
			continue
		}
		if f[0] == "Z" {
			zombies = append(zombies, pid)
		} else {
			live = append(live, pid)
		}
	}
	return live, zombies
}

// waitChildren waits (up to d) until this process has n live children and
// no zombie, and returns the live ones.
func waitChildren(t *testing.T, n int, d time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		live, zombies := children(t)
		if len(live) == n && len(zombies) == 0 {
			return live
		}
		if time.Now().After(deadline) {
			t.Fatalf("children: %v live, zombies %v; want %d live and no zombie", live, zombies, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func token(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject(sub).Audience([]string{testAudience}).
		Expiration(time.Now().Add(time.Hour)).Claim("scope", "read write").Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeBadFlags checks that every usage error exits 2 with a message
// that names the problem.
// writePolicy writes a policy file for the test and returns its path.
func writePolicy(t *testing.T, json string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeBadFlags(t *testing.T) {
	tests := []struct {
		name string
		env  string // JWT_SECRET
		args []string
		want string
	}{
		{"no command", "", []string{}, "no COMMAND"},
		{"no dashes", "", []string{"/bin/cat"}, "put -- before COMMAND"},
		{"unknown flag", "", []string{"-nope", "--", "/bin/cat"}, "flag provided but not defined: -nope"},
		{"command not found", "", []string{"--", "no-such-command-mcpws"}, `COMMAND "no-such-command-mcpws"`},
		{"env with a value", "", []string{"-env", "TOKEN=abc", "--", "/bin/cat"}, `-env "TOKEN=abc": want a variable NAME`},
		{"claim unknown", "", []string{"-env-from-claim", "USER=email", "--", "/bin/cat"}, "claim one of sub, iss, scope"},
		{"claim no name", "", []string{"-env-from-claim", "sub", "--", "/bin/cat"}, "want NAME=claim"},
		{"claim without auth", "", []string{"-env-from-claim", "MCP_USER=sub", "--", "/bin/cat"}, "-env-from-claim needs authentication (JWT_SECRET or -jwks-url)"},
		{"kill grace zero", "", []string{"-kill-grace", "0", "--", "/bin/cat"}, "-kill-grace must be positive"},
		{"idle timeout negative", "", []string{"-idle-timeout", "-1s", "--", "/bin/cat"}, "-idle-timeout and -max-lifetime must not be negative"},
		{"max lifetime negative", "", []string{"-max-lifetime", "-1s", "--", "/bin/cat"}, "-idle-timeout and -max-lifetime must not be negative"},
		{"children zero", "", []string{"-max-children", "0", "--", "/bin/cat"}, "must be positive"},
		{"secret without audience", testSecret, []string{"--", "/bin/cat"}, "-audience is required"},
		{"no jwt-secret flag", "", []string{"-jwt-secret", "x", "--", "/bin/cat"}, "flag provided but not defined: -jwt-secret"},
		{"secret set but empty", "set but empty", []string{"-audience", testAudience, "--", "/bin/cat"}, "JWT_SECRET is set but empty: give the secret, or unset it to serve without authentication"},
		{"jwks url empty", "", []string{"-jwks-url", "", "-audience", testAudience, "--", "/bin/cat"}, "-jwks-url is empty: give the URL, or leave the flag out to serve without authentication"},
		{"policy file missing", "", []string{"-policy", "/no/such/policy.json", "--", "/bin/cat"}, "-policy: policy: open /no/such/policy.json"},
		{"policy not valid", "", []string{"-policy", writePolicy(t, `{"default":"maybe","rules":[]}`), "--", "/bin/cat"}, `policy: default "maybe": want "allow" or "deny"`},
		{"policy claim without auth", "", []string{"-policy", writePolicy(t, `{"default":"deny","claim":"roles","rules":[{"tools":["x"],"values":["admin"]}]}`), "--", "/bin/cat"}, `-policy: its rules need the "roles" claim`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// "" leaves JWT_SECRET unset; "set but empty" sets it to "".
			t.Setenv("JWT_SECRET", "")
			switch tt.env {
			case "":
				os.Unsetenv("JWT_SECRET")
			case "set but empty":
			default:
				t.Setenv("JWT_SECRET", tt.env)
			}
			var out, errb strings.Builder
			code := runServe(context.Background(), tt.args, &out, &errb)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr = %q, want %q", errb.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

// TestServeChildEnv checks that a child's environment is exactly the
// allow-list: listed variables that are set, and the claims asked for.
func TestServeChildEnv(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	t.Setenv("MCPWS_TEST_LISTED", "listed value")
	t.Setenv("MCPWS_TEST_UNLISTED", "secret")
	os.Unsetenv("MCPWS_TEST_UNSET")
	g := startGateway(t, "-audience", testAudience, "-kill-grace", "300ms",
		"-env", "MCPWS_TEST_LISTED", "-env", "MCPWS_TEST_UNSET",
		"-env-from-claim", "MCP_USER=sub", "-env-from-claim", "MCP_SCOPE=scope",
		"--", "/bin/sleep", "60")
	ws := dial(t, g.url(), token(t, "alice"))
	send(t, ws, initialize)
	pids := waitChildren(t, 1, 10*time.Second)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	slices.Sort(got)
	want := []string{"MCPWS_TEST_LISTED=listed value", "MCP_SCOPE=read write", "MCP_USER=alice"}
	if !slices.Equal(got, want) {
		t.Errorf("child environment = %q, want %q", got, want)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	// sleep ignores its stdin: SIGTERM after the grace ends it.
	g.waitLog(t, "process stopped", `how="signal terminated"`)
	waitChildren(t, 0, 10*time.Second)
}

// TestServeChildIgnoresSIGTERM checks that a child that ignores its stdin
// closing and SIGTERM is killed after twice the grace period, with what it
// started, and reaped.
func TestServeChildIgnoresSIGTERM(t *testing.T) {
	const grace = 300 * time.Millisecond
	g := startGateway(t, "-kill-grace", grace.String(), "--",
		"/bin/sh", "-c", `trap "" TERM; sleep 60 & echo "background=$!" >&2; while :; do sleep 0.05; done`)
	ws := dial(t, g.url(), "")
	send(t, ws, initialize)
	g.waitLog(t, "process started")
	closed := time.Now()
	ws.Close(websocket.StatusNormalClosure, "")
	line := g.waitLog(t, "process stopped")
	took := time.Since(closed)
	if !strings.Contains(line, `how="signal killed"`) {
		t.Errorf("log line %q, want how=\"signal killed\"", line)
	}
	if took < 2*grace {
		t.Errorf("child stopped %v after the session ended, before SIGKILL was due (%v)", took, 2*grace)
	}
	// The background sleep 60 was in the group: nothing is left.
	waitChildren(t, 0, 5*time.Second)
	bg := regexp.MustCompile(`background=(\d+)`).FindStringSubmatch(g.log.String())
	if bg == nil {
		t.Fatalf("no background pid in the log:\n%s", g.log)
	}
	// Reparented to init and reaped there, or still alive: either way its
	// stat would show "sleep" if it survived.
	if b, err := os.ReadFile("/proc/" + bg[1] + "/stat"); err == nil && strings.Contains(string(b), "(sleep)") && !strings.Contains(string(b), ") Z ") {
		t.Errorf("the child's own child %s survived: %s", bg[1], b)
	}
}

// TestServeChildCrash checks that a child that exits or dies while its
// session lives closes the socket 1011 with the fixed reason, and that the
// log says how it ended.
func TestServeChildCrash(t *testing.T) {
	tests := []struct {
		name   string
		script string
		how    string
	}{
		{"exit code", `read line; exit 3`, `how="exit code 3"`},
		{"signal", `read line; kill -SEGV $$`, `how="signal segmentation fault"`},
		{"stdout closed", `read line; exec >&-; sleep 0.1; exit 0`, `how="exit code 0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, "-kill-grace", "2s", "--", "/bin/sh", "-c", tt.script)
			ws := dial(t, g.url(), "")
			send(t, ws, initialize)
			ce := readClose(t, ws)
			if ce.Code != websocket.StatusInternalError || ce.Reason != reasonChildExited {
				t.Errorf("close %d %q, want 1011 %q", ce.Code, ce.Reason, reasonChildExited)
			}
			line := g.waitLog(t, "process ended the session")
			if !strings.Contains(line, tt.how) || !strings.Contains(line, "session=") {
				t.Errorf("log line %q, want %s and the session", line, tt.how)
			}
			waitChildren(t, 0, 5*time.Second)
		})
	}
}

// TestServeChildBounds checks the bounds on children: per identity 429,
// in total 503, before the upgrade.
func TestServeChildBounds(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	g := startGateway(t, "-audience", testAudience, "-max-children", "2", "-max-children-per-user", "1", "--", "/bin/cat")
	for _, sub := range []string{"alice", "bob"} {
		ws := dial(t, g.url(), token(t, sub))
		send(t, ws, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	}
	waitChildren(t, 2, 10*time.Second)
	for _, tt := range []struct {
		sub    string
		status int
	}{{"alice", http.StatusTooManyRequests}, {"carol", http.StatusServiceUnavailable}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, g.url(), &websocket.DialOptions{Subprotocols: []string{"mcp"},
			HTTPHeader: http.Header{"Authorization": {"Bearer " + token(t, tt.sub)}}})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != tt.status {
			t.Errorf("%s: dial = %v, %v; want status %d", tt.sub, resp, err, tt.status)
		}
	}
}

// TestServeRlimits checks that -child-memory and -child-files hold in the
// child. The gateway runs as its own binary: it re-executes itself to set
// them.
func TestServeRlimits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mcpws")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-kill-grace", "300ms", "-child-memory", "1073741824", "-child-files", "64", "--", "/bin/sleep", "60")
	stdout, _ := cmd.StdoutPipe()
	var logs testlog.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("gateway: %v\n%s", err, logs.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("gateway did not start: %v\n%s", err, logs.String())
	}
	ws := dial(t, "ws://"+strings.TrimSpace(strings.TrimPrefix(line, "listening on "))+"/mcp", "")
	send(t, ws, initialize)
	var limits string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(logs.String()); m != nil {
			exe, _ := os.Readlink("/proc/" + m[1] + "/exe")
			b, _ := os.ReadFile("/proc/" + m[1] + "/limits")
			if limits = string(b); strings.HasSuffix(exe, "/sleep") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sleep child:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"Max address space 1073741824 1073741824", "Max open files 64 64"} {
		if !strings.Contains(strings.Join(strings.Fields(limits), " "), want) {
			t.Errorf("limits of the child lack %q:\n%s", want, limits)
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
