package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpwsBin builds the mcpws command once for all tests.
var mcpwsBin = sync.OnceValues(func() (string, error) {
	out := filepath.Join(binDir, "mcpws")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/mcpws")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New(string(b))
	}
	return out, nil
})

// bridgeBin returns the path of the mcpws command.
func bridgeBin(t *testing.T) string {
	t.Helper()
	bin, err := mcpwsBin()
	if err != nil {
		t.Fatalf("building cmd/mcpws: %v", err)
	}
	return bin
}

// bridgeHost is a go-sdk client that launches "mcpws connect URL" as its
// stdio server, as an MCP host does; it answers sampling and elicitation,
// and records progress.
type bridgeHost struct {
	session  *mcp.ClientSession
	stderr   *lockedWriter
	mu       sync.Mutex
	progress []float64
}

func (h *bridgeHost) progressSeen() []float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.progress)
}

func startBridgeHost(t *testing.T, url, version string, args ...string) *bridgeHost {
	t.Helper()
	h := &bridgeHost{stderr: &lockedWriter{}}
	cmd := exec.Command(bridgeBin(t), append(append([]string{"connect"}, args...), url)...)
	cmd.Stderr = h.stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "bridge-host", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "Paris"}}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "dana"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			h.mu.Lock()
			h.progress = append(h.progress, req.Params.Progress)
			h.mu.Unlock()
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connecting through mcpws connect: %v\n%s", err, h.stderr)
	}
	h.session = cs
	t.Cleanup(func() { cs.Close() })
	return h
}

// lockedWriter is a log sink safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// sleepInFlight starts a call of 1.5 s and returns once the server has
// admitted it (it answered a later echo); the channel gets the call's
// text, or "error: …".
func sleepInFlight(t *testing.T, ctx context.Context, cs *mcp.ClientSession) <-chan string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 1500}})
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- res.Content[0].(*mcp.TextContent).Text
	}()
	waitUntil(t, "the sleep call to be admitted", 10*time.Second, func() bool {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		return err == nil
	})
	return done
}

// callText calls a tool and returns the text of its result.
func callText(t *testing.T, ctx context.Context, cs *mcp.ClientSession, params *mcp.CallToolParams) string {
	t.Helper()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Content) == 0 {
		t.Fatalf("empty result: %+v", res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// The go-sdk's CommandTransport launches mcpws connect against
// examples/everything: tools, progress, sampling and elicitation in the
// middle of calls, and a call in flight across a cut connection completes
// through resumption.
func TestBridgeGoSDK(t *testing.T) {
	p := startEverything(t, "-resume", "30s", "-upgrades-per-ip", "-1")
	proxy := startProxy(t, p.addr)
	h := startBridgeHost(t, "ws://"+proxy.Addr()+"/mcp", "2025-11-25", "--ping-interval", "200ms")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := h.session

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"echo", "test_tool_with_progress", "test_sampling", "test_elicitation"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}

	params := &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}}
	params.SetProgressToken("p1")
	callText(t, ctx, cs, params)
	if got := h.progressSeen(); !slices.Equal(got, []float64{0, 50, 100}) {
		t.Errorf("progress = %v, want [0 50 100]", got)
	}
	if got := callText(t, ctx, cs, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "Capital of France?"}}); got != "LLM response: Paris" {
		t.Errorf("sampling mid-call = %q", got)
	}
	if got := callText(t, ctx, cs, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "Who?"}}); !strings.Contains(got, "action=accept") || !strings.Contains(got, "dana") {
		t.Errorf("elicitation mid-call = %q", got)
	}

	// A call in flight when the connection is cut: the bridge redials and
	// resumes, and the call completes. The cut comes once the server has
	// admitted the call (it answered a later increment).
	done := sleepInFlight(t, ctx, cs)
	accepted := proxy.Accepted()
	proxy.Cut()
	if got := <-done; got != "slept 1500 ms" {
		t.Fatalf("the call across the cut = %q, want its result\nbridge log:\n%s", got, h.stderr)
	}
	if proxy.Accepted() <= accepted {
		t.Errorf("the bridge did not redial")
	}
	if got := callText(t, ctx, cs, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after"}}); got != "after" {
		t.Errorf("echo after the cut = %q", got)
	}
}

// A server restarted gracefully (SIGTERM, then a new process) in the
// middle of a call: the drain lets the call complete through the bridge.
// A 2026-07-28 session then carries on against the new process. A 2025
// session carries on too when both processes share a session store
// (-redis): the drained one leaves the session's state there, the new one
// re-creates it. Without one it cannot (the new process does not know it):
// the bridge exits 1 saying so, and the host's next call fails instead of
// hanging.
func TestBridgeServerRestart(t *testing.T) {
	for _, tt := range []struct {
		version string
		store   bool
	}{{"2026-07-28", false}, {"2025-11-25", false}, {"2025-11-25", true}} {
		name := tt.version
		if tt.store {
			name += " with a session store"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"-resume", "30s", "-upgrades-per-ip", "-1"}
			if tt.store {
				args = append(args, "-redis", "redis://"+startRedis(t).Addr)
			}
			first := startEverything(t, args...)
			proxy := startProxy(t, first.addr)
			h := startBridgeHost(t, "ws://"+proxy.Addr()+"/mcp", tt.version)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs := h.session

			done := sleepInFlight(t, ctx, cs)
			second := startEverything(t, args...)
			proxy.SetTarget(second.addr)
			exited(t, first, sigterm(t, first))
			if got := <-done; got != "slept 1500 ms" {
				t.Fatalf("the call across the restart = %q, want its result\nbridge log:\n%s", got, h.stderr)
			}
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after"}})
			if tt.version == "2026-07-28" || tt.store {
				if err != nil {
					t.Errorf("echo on the new server: %v\nbridge log:\n%s", err, h.stderr)
				}
				if tt.store && !strings.Contains(h.stderr.String(), "session re-created by another server") {
					t.Errorf("the bridge did not log the move:\n%s", h.stderr)
				}
				return
			}
			if err == nil {
				t.Fatal("a 2025 session carried on against a new process that does not know it")
			}
			waitUntil(t, "the bridge to say why it ended", 10*time.Second, func() bool {
				return strings.Contains(h.stderr.String(), "mcpws connect: session lost")
			})
		})
	}
}

// The TypeScript SDK's StdioClientTransport launches mcpws connect: tools,
// progress, and sampling in the middle of a call.
func TestBridgeTypeScript(t *testing.T) {
	p := startEverything(t)
	out, err := runNode(t, time.Minute, "ts-stdio.mjs", bridgeBin(t), "ws://"+p.addr+"/mcp")
	if err != nil {
		t.Fatalf("ts-stdio: %v\n%s", err, out)
	}
	var report struct {
		ServerName     string    `json:"serverName"`
		Tools          []string  `json:"tools"`
		Progress       []float64 `json:"progress"`
		Sampled        []string  `json:"sampled"`
		SamplingResult string    `json:"samplingResult"`
		Echo           string    `json:"echo"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if report.ServerName != "mcpws-everything" {
		t.Errorf("server name = %q", report.ServerName)
	}
	for _, want := range []string{"test_tool_with_progress", "test_sampling", "echo"} {
		if !slices.Contains(report.Tools, want) {
			t.Errorf("tools/list lacks %s: %v", want, report.Tools)
		}
	}
	if !slices.Equal(report.Progress, []float64{0, 50, 100}) {
		t.Errorf("progress = %v, want [0 50 100]", report.Progress)
	}
	if !slices.Equal(report.Sampled, []string{"Capital of France?"}) || report.SamplingResult != "LLM response: Paris" {
		t.Errorf("sampling: asked %v, result %q", report.Sampled, report.SamplingResult)
	}
	if report.Echo != "through the bridge" {
		t.Errorf("echo = %q", report.Echo)
	}
}
