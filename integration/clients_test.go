package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// The TypeScript SDK's Client over its WebSocketClientTransport lists
// tools, gets progress, and answers sampling, against our server.
func TestTypeScriptClient(t *testing.T) {
	p := startEverything(t)
	out, err := runNode(t, time.Minute, "ts-client.mjs", "ws://"+p.addr+"/mcp")
	if err != nil {
		t.Fatalf("ts-client: %v\n%s", err, out)
	}
	var report struct {
		ServerName     string    `json:"serverName"`
		Tools          []string  `json:"tools"`
		Progress       []float64 `json:"progress"`
		ProgressResult string    `json:"progressResult"`
		Sampled        []string  `json:"sampled"`
		SamplingResult string    `json:"samplingResult"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	t.Logf("TypeScript client report: %s", out)
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
}

// The Go client in this process talks to the server in another, in both
// protocol generations, including a server-to-client request.
func TestGoClientAcrossProcesses(t *testing.T) {
	p := startEverything(t)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "go-client", Version: "1"}, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "gopher"}}, nil
				},
			})
			cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for i := range 50 {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": strings.Repeat("é", i)}})
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Content[0].(*mcp.TextContent).Text; got != strings.Repeat("é", i) {
					t.Fatalf("echo %d = %q", i, got)
				}
			}
			// ask_name elicits in-band for 2025 and returns input-required for 2026.
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask_name"})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Content[0].(*mcp.TextContent).Text; got != "Hello, gopher!" {
				t.Errorf("ask_name = %q", got)
			}
		})
	}
}

// The hello example's client greets through the hello server, both as
// separate processes.
func TestHelloExample(t *testing.T) {
	server := exec.Command(filepath.Join(binDir, "hello"))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	var out []byte
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = exec.Command(filepath.Join(binDir, "hello-client"), "-name", "mcpws").CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the server is still starting
	}
	if err != nil {
		t.Fatalf("hello client: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "Hello, mcpws!" {
		t.Errorf("hello client printed %q", got)
	}
}

// The README's quick start, command by command: the client example lists
// and calls tools, is refused without a token, and calls whoami with one
// minted by examples/mint.
func TestQuickStart(t *testing.T) {
	run := func(env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	open := startEverything(t)
	url := "ws://" + open.addr + "/mcp"
	if out, err := run(nil, "client", "-url", url); err != nil || !strings.Contains(out, "echo ") {
		t.Errorf("listing tools: %v\n%s", err, out)
	}
	if out, err := run(nil, "client", "-url", url, "-call", "echo", "-args", `{"text":"hello"}`); err != nil || out != "hello" {
		t.Errorf("calling echo: %v, printed %q", err, out)
	}

	const secret = "0123456789abcdef0123456789abcdef"
	secure := startEverything(t, "-jwt-secret", secret, "-audience", "http://127.0.0.1:8080/mcp")
	url = "ws://" + secure.addr + "/mcp"
	if out, err := run(nil, "client", "-url", url); err == nil || !strings.Contains(out, "401") {
		t.Errorf("without a token: %v, printed %q; want a 401", err, out)
	}
	// mint reads the secret from JWT_SECRET, as the README's commands do.
	if out, err := run([]string{"JWT_SECRET="}, "mint", "-aud", "http://127.0.0.1:8080/mcp"); err == nil || !strings.Contains(out, "no secret: set JWT_SECRET") {
		t.Errorf("mint without a secret: %v, printed %q", err, out)
	}
	token, err := run([]string{"JWT_SECRET=" + secret}, "mint", "-aud", "http://127.0.0.1:8080/mcp", "-sub", "ada")
	if err != nil {
		t.Fatalf("mint: %v\n%s", err, token)
	}
	if out, err := run([]string{"MCP_TOKEN=" + token}, "client", "-url", url, "-call", "whoami"); err != nil || out != "ada []" {
		t.Errorf("whoami: %v, printed %q; want \"ada []\"", err, out)
	}
}

// examples/client takes its endpoint from $ADDR as make run does, logs the
// connection's close code and reason with -v, and with -subscribe prints
// each update of the resource until interrupted.
func TestExampleClientSubscribes(t *testing.T) {
	srv := startEverything(t)
	cmd := exec.Command(filepath.Join(binDir, "client"), "-v", "-subscribe", "test://watched-resource")
	cmd.Env = append(cmd.Environ(), "ADDR="+srv.addr, "MCP_TOKEN=")
	var stdout, stderr lockedWriter
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitUntil(t, "the subscription", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "subscribed to test://watched-resource") })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "raiser", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + srv.addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := notify(ctx, cs, "test://watched-resource"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the update on stdout", 10*time.Second, func() bool { return strings.Contains(stdout.String(), "updated test://watched-resource") })
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("client exited with %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("the client did not stop on SIGINT")
	}
	if log := stderr.String(); !strings.Contains(log, "connection closed") || !strings.Contains(log, "code=1000") {
		t.Errorf("-v logged no close code:\n%s", log)
	}
}
