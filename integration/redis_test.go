package integration

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

// redisBin is Debian's redis-server, which .ci/run and `make test` install.
const redisBin = "/usr/bin/redis-server"

// redisProc is a redis-server of the test's own, on a free loopback port,
// without persistence. Restart stops it and starts a fresh, empty one on
// the same port, as a Redis restart without persistence would.
type redisProc struct {
	Addr string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// startRedis runs redis-server for the test and stops it at the end.
func startRedis(t *testing.T) *redisProc {
	t.Helper()
	requireInstalled(t, redisBin, "redis-server", "make system-deps (apt-get install redis-server)")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // redis-server binds it next; a race with another process is unlikely on loopback
	r := &redisProc{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: t.TempDir()}
	r.start(t)
	t.Cleanup(r.Stop)
	return r
}

func (r *redisProc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(redisBin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--protected-mode", "no", "--loglevel", "warning")
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
		if pong(r.Addr) {
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
func (r *redisProc) Stop() {
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
func (r *redisProc) Restart(t *testing.T) {
	t.Helper()
	r.Stop()
	r.start(t)
}

// pong reports whether a Redis server answers PING at addr.
func pong(addr string) bool {
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

// The helper itself: a server that answers, a restart that comes back on
// the same address, and a stop that leaves nothing listening.
func TestRedisHelper(t *testing.T) {
	r := startRedis(t)
	if !pong(r.Addr) {
		t.Fatalf("no PONG from %s", r.Addr)
	}
	r.Restart(t)
	if !pong(r.Addr) {
		t.Fatalf("no PONG from %s after a restart", r.Addr)
	}
	r.Stop()
	if pong(r.Addr) {
		t.Fatalf("%s still answers after Stop", r.Addr)
	}
}
