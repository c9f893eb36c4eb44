// Package redistest runs a redis-server of a test's own, on a free
// loopback port, for the tests of package redismcpws and the integration
// tests: one implementation of starting, restarting and stopping it.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bin is Debian's redis-server, which `make system-deps` installs.
const Bin = "/usr/bin/redis-server"

// Server is a redis-server without persistence. Restart stops it and
// starts a fresh, empty one on the same port, as a Redis restart without
// persistence would.
type Server struct {
	Addr string
	port int
	dir  string
	args []string // beyond the defaults: cluster mode

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// Start runs redis-server for the test and stops it at the end. Without
// redis-server it skips the test, naming the command that installs it,
// unless CI is set: then it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	need(t, Bin)
	return startServer(t, freePort(t))
}

// startServer runs redis-server on port with args beyond the defaults.
func startServer(t testing.TB, port int, args ...string) *Server {
	t.Helper()
	r := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: t.TempDir(), args: args}
	r.start(t)
	t.Cleanup(r.Stop)
	return r
}

// need skips the test without bin, naming the command that installs it,
// unless CI is set: then it fails.
func need(t testing.TB, bin string) {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("%s is not installed; install it with: make system-deps (apt-get install redis-server)", bin)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // redis-server binds it next; a race with another process is unlikely on loopback
	return ln.Addr().(*net.TCPAddr).Port
}

func (r *Server) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(Bin, append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--protected-mode", "no", "--loglevel", "warning"}, r.args...)...)
	var stderr strings.Builder
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.cmd, r.stderr = cmd, &stderr
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if Pong(r.Addr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on %s:\n%s", r.Addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server (SIGKILL: the test is done with it, or simulates a
// crash) and waits for it.
func (r *Server) Stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Kill)
	_ = cmd.Wait()
}

// Restart kills the server and starts an empty one on the same address.
func (r *Server) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.start(t)
}

func (r *Server) signal(s os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(s)
	}
}

// Pong reports whether a Redis server answers PING at addr.
func Pong(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}
