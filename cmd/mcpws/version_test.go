package main

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestResolveVersion(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "7e621c8d559f45e95d63cf7a3b66ad79711a8c92"
	for _, tc := range []struct {
		name   string
		ldflag string
		info   *debug.BuildInfo
		want   string
	}{
		{"make dist", "v0.1.0", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v0.1.0"},
		{"-X wins over the module", "v0.2.0-rc.1", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, "v0.2.0-rc.1"},
		{"go install @v0.1.0", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, "v0.1.0"},
		{"go build in a clone", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20261204102811-7e621c8d559f+dirty"}, Settings: vcs(rev, "true")},
			"v0.1.1-0.20261204102811-7e621c8d559f+dirty"},
		{"revision only", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "devel-7e621c8d559f"},
		{"uncommitted changes", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "devel-7e621c8d559f-dirty"},
		{"no VCS information", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"no build information", "", nil, "devel"},
	} {
		if got := resolveVersion(tc.ldflag, tc.info); got != tc.want {
			t.Errorf("%s: resolveVersion = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// "mcpws version" prints the version, the platform and the Go release; in
// a test binary the version is "devel".
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version", "-version"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, nil, &stdout, &stderr); code != 0 {
			t.Errorf("mcpws %s: exit %d; stderr: %s", arg, code, &stderr)
		}
		want := "mcpws " + currentVersion() + " " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version() + "\n"
		if stdout.String() != want || !strings.HasPrefix(want, "mcpws devel") {
			t.Errorf("mcpws %s printed %q, want %q (a devel version)", arg, &stdout, want)
		}
	}
}

// The version `make dist` sets with -ldflags -X reaches "mcpws version"
// (the variable's name is part of the release process). The build keeps
// the default flags otherwise, so that it reuses the build cache.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "mcpws")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("mcpws version: %v", err)
	}
	if want := "mcpws v9.8.7-test " + runtime.GOOS + "/" + runtime.GOARCH + " "; !strings.HasPrefix(string(out), want) {
		t.Errorf("mcpws version printed %q, want it to start with %q", out, want)
	}
}

// The bridge's handshakes carry User-Agent mcpws/VERSION, unless --header
// gives another.
func TestConnectUserAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "mcpws/" + currentVersion()},
		{[]string{"--header", "User-Agent: my-host/2.0"}, "my-host/2.0"},
	} {
		agents := make(chan string, 1)
		url := frameServer(t, func(r *http.Request, ws *websocket.Conn) {
			agents <- r.Header.Get("User-Agent")
			_, _, _ = ws.Read(r.Context())
		})
		startBridge(t, append(tc.args, url)...)
		select {
		case got := <-agents:
			if got != tc.want {
				t.Errorf("with %q the server saw User-Agent %q, want %q", tc.args, got, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("with %q: no handshake", tc.args)
		}
	}
}
