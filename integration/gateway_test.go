//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// startGateway runs "mcpws serve args..." (args end with -- COMMAND ...)
// on a free loopback port.
func startGateway(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startBinary(t, "mcpws", env, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
}

// everythingChild is examples/everything as the gateway's child.
func everythingChild() []string { return []string{"--", filepath.Join(binDir, "everything"), "-stdio"} }

// TestGatewayConformance runs the official suite over ws:// through the
// gateway, against examples/everything on stdio: the same scenarios as the
// direct endpoint.
func TestGatewayConformance(t *testing.T) {
	p := startGateway(t, nil, everythingChild()...)
	runConformance(t, "ws://"+p.addr+"/mcp")
}

// TestGatewayServerEverything runs the reference server of the MCP
// project, @modelcontextprotocol/server-everything from npm (pinned in
// node/package.json), as the child, and drives it with the TypeScript
// SDK's client over WebSocket and over Streamable HTTP: tools, echo,
// progress, and sampling answered by the client.
func TestGatewayServerEverything(t *testing.T) {
	nodeBin := node(t)
	server, _ := filepath.Abs(filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"))
	requireInstalled(t, server, "@modelcontextprotocol/server-everything", "make node-deps")
	p := startGateway(t, nil, "--", nodeBin, server, "stdio")
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) { checkServerEverything(t, p, scheme+"://"+p.addr+"/mcp") })
	}
}

// checkServerEverything drives server-everything behind the gateway at url.
func checkServerEverything(t *testing.T, p *proc, url string) {
	out, err := runNode(t, 2*time.Minute, "ts-gateway-client.mjs", url)
	if err != nil {
		t.Fatalf("client: %v\ngateway log:\n%s", err, p.Logs())
	}
	var report struct {
		ServerName     string
		Tools          []string
		Echo           string
		Progress       []float64
		Sampled        []string
		SamplingResult string
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if report.ServerName != "mcp-servers/everything" {
		t.Errorf("server name %q", report.ServerName)
	}
	for _, tool := range []string{"echo", "trigger-long-running-operation", "trigger-sampling-request"} {
		if !slices.Contains(report.Tools, tool) {
			t.Errorf("tools %v lack %s", report.Tools, tool)
		}
	}
	if report.Echo != "Echo: hello through the gateway" {
		t.Errorf("echo = %q", report.Echo)
	}
	// The server sends 1, 2, 3 and then its result, in that order, and the
	// gateway relays them in that order; the TypeScript client stops
	// listening for progress when the result is handled, and may handle
	// the result before the last notification's handler runs. So: in
	// order, at least the first two.
	if n := len(report.Progress); n < 2 || !slices.Equal(report.Progress, []float64{1, 2, 3}[:n]) {
		t.Errorf("progress = %v, want [1 2 3] (or [1 2])", report.Progress)
	}
	if len(report.Sampled) != 1 || !strings.Contains(report.Sampled[0], "Capital of France?") || !strings.Contains(report.SamplingResult, "Paris") {
		t.Errorf("sampling: asked %q, result %q", report.Sampled, report.SamplingResult)
	}
}

// TestGatewayIsolation checks that two identities on one gateway never see
// each other's notifications: each session has its own process.
func TestGatewayIsolation(t *testing.T) {
	p := startGateway(t, []string{"JWT_SECRET=" + testSecret}, append([]string{"-audience", testAudience}, everythingChild()...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type seen struct{ logs, progress atomic.Int64 }
	connect := func(sub string, s *seen) *mcp.ClientSession {
		client := mcp.NewClient(&mcp.Implementation{Name: sub, Version: "1"}, &mcp.ClientOptions{
			LoggingMessageHandler:       func(context.Context, *mcp.LoggingMessageRequest) { s.logs.Add(1) },
			ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { s.progress.Add(1) },
		})
		cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp",
			Header: http.Header{"Authorization": {"Bearer " + testToken(t, sub, testAudience, "")}}},
			// 2025: logging follows logging/setLevel.
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
		t.Cleanup(func() { cs.Close() })
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	var alice, bob seen
	a := connect("alice", &alice)
	b := connect("bob", &bob)
	for range 3 {
		if _, err := a.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_logging"}); err != nil {
			t.Fatal(err)
		}
		params := &mcp.CallToolParams{Name: "test_tool_with_progress"}
		params.SetProgressToken("alice-progress")
		if _, err := a.CallTool(ctx, params); err != nil {
			t.Fatal(err)
		}
	}
	// A round trip on bob's session after alice's calls: anything leaked
	// to it would have arrived by now.
	if _, err := b.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
		t.Fatal(err)
	}
	if alice.logs.Load() != 9 || alice.progress.Load() != 9 {
		t.Errorf("alice saw %d log and %d progress notifications, want 9 and 9", alice.logs.Load(), alice.progress.Load())
	}
	if bob.logs.Load() != 0 || bob.progress.Load() != 0 {
		t.Errorf("bob saw %d log and %d progress notifications of alice's, want none", bob.logs.Load(), bob.progress.Load())
	}
}

// procChildren returns the live children and the zombies of process pid.
func procChildren(pid int) (live, zombies int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if ppid, _ := strconv.Atoi(f[1]); ppid != pid {
			continue
		}
		if f[0] == "Z" {
			zombies++
		} else {
			live++
		}
	}
	return live, zombies
}

// rssKB is the resident set of process pid, in KiB.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// waitNoChildren waits (up to 30 s) until pid has no child, live or zombie.
func waitNoChildren(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		live, zombies := procChildren(pid)
		if live == 0 && zombies == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway has %d live children and %d zombies", live, zombies)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cycle opens one session through the gateway and ends it: kind 0 closes
// cleanly after a call, 1 drops the socket after initialize, 2 drops it in
// the middle of a call.
func cycle(ctx context.Context, url string, kind int) error {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	write := func(s string) error { return ws.Write(ctx, websocket.MessageText, []byte(s)) }
	if err := write(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"leak","version":"1"}}}`); err != nil {
		return err
	}
	if _, _, err := ws.Read(ctx); err != nil {
		return err
	}
	if err := write(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return err
	}
	switch kind {
	case 0:
		if err := write(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`); err != nil {
			return err
		}
		if _, _, err := ws.Read(ctx); err != nil {
			return err
		}
		return ws.Close(websocket.StatusNormalClosure, "")
	case 2:
		return write(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":5000}}}`)
	}
	return nil
}

// TestGatewayLeaks runs connect/disconnect cycles (half dropped abruptly,
// some in the middle of a call) through the gateway, then checks that no
// child process and no zombie is left, and that the gateway's RSS is back
// within 5% of its baseline. MCPWS_GATEWAY_CYCLES sets the count (default
// 400; the figures in docs/performance.md are for 10000).
func TestGatewayLeaks(t *testing.T) {
	n := 400
	if v := os.Getenv("MCPWS_GATEWAY_CYCLES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	p := startGateway(t, nil, append([]string{"-kill-grace", "1s", "-upgrades-per-ip", "-1", "-max-children", "64", "-max-children-per-user", "64"}, everythingChild()...)...)
	pid := p.cmd.Process.Pid
	url := "ws://" + p.addr + "/mcp"
	run := func(count int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		var next, failed atomic.Int64
		for range 8 {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(count); i = next.Add(1) - 1 {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					// Half abrupt (1 and 2), one in ten in the middle of a call.
					kind := []int{0, 1, 0, 1, 0, 1, 0, 1, 0, 2}[i%10]
					if err := cycle(ctx, url, kind); err != nil && failed.Add(1) <= 3 {
						t.Errorf("cycle %d: %v", i, err)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	// Warm up (buffers, pools, the heap's working size) with as many
	// cycles as are measured: after 300, one run in several still grew
	// the working size by over 5% in the measured 400 (+5.2% seen), and
	// with no leak behind it (0.0% to +3.6% in the runs around it).
	run(max(n, 400))
	waitNoChildren(t, pid)
	base := rssKB(t, pid)
	took := run(n)
	waitNoChildren(t, pid)
	after := rssKB(t, pid)
	t.Logf("%d cycles in %v (%.0f/s); gateway RSS %d KiB before, %d KiB after (%+.1f%%)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), base, after, 100*float64(after-base)/float64(base))
	if float64(after) > 1.05*float64(base) {
		t.Errorf("gateway RSS grew from %d KiB to %d KiB, over 5%%", base, after)
	}
}

// TestGatewayPerformance measures, in one run, the latency the gateway
// adds to a tools/call against the direct endpoint (p50/p99), the session
// start through the gateway (dial, process start, initialize) against the
// direct one, and the gateway's own memory per idle session. Opt-in:
// MCPWS_GATEWAY_PERF=1 (figures in docs/performance.md).
func TestGatewayPerformance(t *testing.T) {
	if os.Getenv("MCPWS_GATEWAY_PERF") == "" {
		t.Skip("set MCPWS_GATEWAY_PERF=1 to measure the gateway")
	}
	direct := startEverything(t, "-upgrades-per-ip", "-1", "-max-conns-per-user", "-1")
	gw := startGateway(t, nil, append([]string{"-upgrades-per-ip", "-1", "-max-conns-per-user", "-1", "-max-children", "2000", "-max-children-per-user", "2000"}, everythingChild()...)...)
	ctx := context.Background()
	session := func(addr string) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "perf", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + addr + "/mcp"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(p*float64(len(d)-1))]
	}
	// Latency: interleaved calls on one session each.
	dcs, gcs := session(direct.addr), session(gw.addr)
	var dl, gl []time.Duration
	call := func(cs *mcp.ClientSession) time.Duration {
		start := time.Now()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	for range 3000 {
		dl = append(dl, call(dcs))
		gl = append(gl, call(gcs))
	}
	dcs.Close()
	gcs.Close()
	t.Logf("tools/call echo, 3000 each: direct p50 %v p99 %v; gateway p50 %v p99 %v; added p50 %v p99 %v",
		pct(dl, .5), pct(dl, .99), pct(gl, .5), pct(gl, .99), pct(gl, .5)-pct(dl, .5), pct(gl, .99)-pct(dl, .99))

	// Session start: dial and initialize, and through the gateway the
	// process start too.
	var ds, gs []time.Duration
	for range 200 {
		for _, c := range []struct {
			addr string
			into *[]time.Duration
		}{{direct.addr, &ds}, {gw.addr, &gs}} {
			start := time.Now()
			cs := session(c.addr)
			*c.into = append(*c.into, time.Since(start))
			cs.Close()
		}
	}
	t.Logf("session start, 200 each: direct p50 %v p99 %v; gateway (with the process) p50 %v p99 %v",
		pct(ds, .5), pct(ds, .99), pct(gs, .5), pct(gs, .99))
	waitNoChildren(t, gw.cmd.Process.Pid)

	// The child alone: fork and exec (what the gateway does before it
	// relays), and until the process answers initialize over stdio.
	child := everythingChild()[1:] // after "--"
	var forks, ready []time.Duration
	for range 200 {
		start := time.Now()
		cmd := exec.Command(child[0], child[1:]...)
		cmd.Stdin, cmd.Stdout = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		forks = append(forks, time.Since(start))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		start = time.Now()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "perf", Version: "1"}, nil).Connect(ctx,
			&mcp.CommandTransport{Command: exec.Command(child[0], child[1:]...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ready = append(ready, time.Since(start))
		cs.Close()
	}
	t.Logf("child spawn, 200: fork+exec p50 %v p99 %v; until initialize answered p50 %v p99 %v",
		pct(forks, .5), pct(forks, .99), pct(ready, .5), pct(ready, .99))

	// Memory per idle session, the gateway's own RSS (children excluded).
	const idle = 300
	pid := gw.cmd.Process.Pid
	base := rssKB(t, pid)
	var open []*mcp.ClientSession
	for range idle {
		open = append(open, session(gw.addr))
	}
	time.Sleep(2 * time.Second) // let the sessions settle (no event to wait for)
	after := rssKB(t, pid)
	t.Logf("gateway RSS with %d idle sessions: %d KiB, before %d KiB: %.1f KiB per session", idle, after, base, float64(after-base)/idle)
	for _, cs := range open {
		cs.Close()
	}
	waitNoChildren(t, pid)
}

// With resumption on, the child lives as long as the session, not the
// socket: a client whose connection is cut resumes and finds the same
// process, with its state (a counter in the child's memory goes on from
// where it was), and no second process is started.
func TestGatewayResumeKeepsChild(t *testing.T) {
	gw := startGateway(t, nil, append([]string{"-resume", "10s"}, everythingChild()...)...)
	proxy := startProxy(t, gw.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "resume", Version: "1"}, nil).Connect(ctx,
		&wsmcp.ClientTransport{URL: "ws://" + proxy.Addr() + "/mcp", Reconnect: &wsmcp.ReconnectOptions{MinDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for want := 1; want <= 2; want++ {
		if got, err := increment(ctx, cs, "k"); err != nil || got != want {
			t.Fatalf("increment before the cut = %d, %v; want %d", got, err, want)
		}
	}
	if live, _ := procChildren(gw.cmd.Process.Pid); live != 1 {
		t.Fatalf("%d processes before the cut, want 1", live)
	}
	proxy.Cut()
	if got, err := increment(ctx, cs, "k"); err != nil || got != 3 {
		t.Fatalf("increment after the cut = %d, %v; want 3 (the same process)", got, err)
	}
	if proxy.Accepted() < 2 {
		t.Fatalf("the client did not reconnect (%d connections)", proxy.Accepted())
	}
	if live, _ := procChildren(gw.cmd.Process.Pid); live != 1 {
		t.Errorf("%d processes after the resume, want the same 1", live)
	}
}
