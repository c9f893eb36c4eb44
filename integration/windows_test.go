package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Debian's 64-bit Wine (package wine64), which `make system-deps` installs.
const (
	wine64       = "/usr/lib/wine/wine64"
	wineserver64 = "/usr/lib/wine/wineserver64"
)

// winePrefix is a Wine installation of a test's own, ready to run Go
// programs.
type winePrefix struct {
	env []string
}

// newWinePrefix creates a Wine prefix in a temporary directory (about 7 s
// on two cores, once per test) and stops its wineserver, and every Windows
// process in it, at cleanup.
func newWinePrefix(t *testing.T) *winePrefix {
	t.Helper()
	requireInstalled(t, wine64, "Wine (64-bit)", "make system-deps")
	dir := t.TempDir()
	w := &winePrefix{env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"WINEPREFIX=" + filepath.Join(dir, "prefix"),
		"WINELOADER=" + wine64, // for the processes a program starts (cmd /C)
		"WINEDEBUG=-all",
		// No Mono or Gecko installer: the prefix runs console programs.
		"WINEDLLOVERRIDES=mscoree,mshtml=",
		// No DISPLAY: Wine runs console programs without one.
	}}
	t.Cleanup(func() {
		// -k ends the wineserver and the processes of the prefix; -w waits
		// until it has written its registry and exited, so that nothing
		// writes into the directory while it is removed.
		for _, flag := range []string{"-k", "-w"} {
			cmd := exec.Command(wineserver64, flag)
			cmd.Env = w.env
			_ = cmd.Run()
		}
	})

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := w.run(ctx, dir, "wineboot", "--init"); err != nil {
		t.Fatalf("wineboot --init: %v\n%s", err, out)
	}
	t.Logf("Wine prefix created in %v", time.Since(start).Round(time.Millisecond))

	// Go programs need bcryptprimitives.dll, which Wine 8 lacks: put the
	// forwarder of wineshim_test.go where a later Wine has its own.
	shim := filepath.Join(dir, "prefix", "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(shim); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(shim, forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// command is "wine64 args..." in the prefix.
func (w *winePrefix) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, wine64, args...)
	cmd.Env = w.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs "wine64 args..." to its end and returns what it printed. The
// output goes through a file in dir, not a pipe: the wineserver and the
// services wineboot starts inherit it and outlive the command.
func (w *winePrefix) run(ctx context.Context, dir string, args ...string) (string, error) {
	f, err := os.CreateTemp(dir, "output")
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := w.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

// buildWindows cross-compiles cmd/mcpws for windows/amd64 into a temporary
// directory.
func buildWindows(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "mcpws.exe")
	cmd := exec.Command("go", "build", "-o", exe, "./cmd/mcpws")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build ./cmd/mcpws: %v\n%s", err, out)
	}
	return exe
}

// The Windows build of mcpws, run by Wine, bridges a host's stdio to
// examples/everything with authentication on: the token comes from
// --token-cmd, which on Windows runs through cmd /C; initialize, tools/list
// and two tools/call (whoami sees the token's subject) are answered on
// stdout, and stdin's end makes it exit 0. `mcpws version` names the
// platform; `mcpws serve` says it needs Linux and exits 2.
func TestWindowsBridge(t *testing.T) {
	w := newWinePrefix(t)
	exe := buildWindows(t)
	p := startEverything(t, "-v", "-jwt-secret", testSecret, "-audience", testAudience)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := w.run(ctx, t.TempDir(), exe, "version")
	if f := strings.Fields(out); err != nil || len(f) != 4 || f[0] != "mcpws" || f[2] != "windows/amd64" {
		t.Errorf("mcpws.exe version: %v, printed %q; want \"mcpws VERSION windows/amd64 GO\"", err, out)
	}
	out, err = w.run(ctx, t.TempDir(), exe, "serve")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out, "mcpws serve needs Linux") {
		t.Errorf("mcpws.exe serve: %v, printed %q; want exit status 2 and \"mcpws serve needs Linux\"", err, out)
	}

	start := time.Now()
	token := testToken(t, "wendy", testAudience, "")
	cmd := w.command(ctx, exe, "connect", "--token-cmd", "echo "+token, "ws://"+p.addr+"/mcp")
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { // after a failure: the process is killed, then reaped
		cancel()
		for range lines {
		}
		_ = cmd.Wait()
	})
	recv := func(what string) map[string]any {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended before the answer to %s; stderr:\n%s", what, stderr)
			}
			var msg map[string]any
			if err := json.Unmarshal([]byte(line), &msg); err != nil {
				t.Fatalf("answer to %s: %q: %v", what, line, err)
			}
			return msg
		case <-ctx.Done():
			t.Fatalf("no answer to %s; stderr:\n%s", what, stderr)
		}
		return nil
	}
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatalf("writing stdin: %v; stderr:\n%s", err, stderr)
		}
	}

	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wine-host","version":"1"}}}`)
	initialized := recv("initialize")
	if info, _ := initialized["result"].(map[string]any)["serverInfo"].(map[string]any); info["name"] == nil {
		t.Errorf("initialize: %v, want a result with serverInfo", initialized)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	list := recv("tools/list")
	var names []string
	tools, _ := list["result"].(map[string]any)["tools"].([]any)
	for _, tool := range tools {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	if !strings.Contains(" "+strings.Join(names, " ")+" ", " whoami ") {
		t.Errorf("tools/list: %v, want whoami among the tools", list)
	}
	for _, call := range []struct{ id, params, want string }{
		{"3", `{"name":"whoami"}`, "wendy []"},
		{`"four"`, `{"name":"echo","arguments":{"text":"hello from Windows"}}`, "hello from Windows"},
	} {
		send(`{"jsonrpc":"2.0","id":` + call.id + `,"method":"tools/call","params":` + call.params + `}`)
		answer := recv("tools/call " + call.params)
		id, _ := json.Marshal(answer["id"])
		content, _ := answer["result"].(map[string]any)["content"].([]any)
		var text any
		if len(content) == 1 {
			text = content[0].(map[string]any)["text"]
		}
		if string(id) != call.id || text != call.want {
			t.Errorf("tools/call %s: %v, want id %s and the text %q", call.params, answer, call.id, call.want)
		}
	}
	t.Logf("mcpws.exe connect: started, connected and answered four requests in %v", time.Since(start).Round(time.Millisecond))

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("mcpws.exe connect after stdin's end: %v, want exit status 0; stderr:\n%s", err, stderr)
	}
	for range lines {
	}
	waitLogs(t, p, "subject=wendy")
}
