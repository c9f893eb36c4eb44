package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Shared settings of the server under test and of the clients.
const (
	secret   = "mcpbench-secret-0123456789abcdef0123"
	audience = "http://mcpbench.test/mcp"
	issuer   = "http://mcpbench.test"
	origin   = "http://mcpbench.test"
)

// server is a running examples/everything process with the full stack on.
type server struct {
	cmd   *exec.Cmd
	addr  string // the MCP listener
	debug string // its pprof and expvar listener
}

// startServer spawns bin on a free loopback port, with the go-sdk's
// handler alone beside /mcp, or, given a policy file, with that policy
// instead.
func startServer(bin, policyFile string) (*server, error) {
	args := []string{"-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0",
		"-audience", audience, "-issuer", issuer, "-origins", origin,
		"-rate", "100000", "-max-conns-per-user", "4", "-max-conns", "30000", "-upgrades-per-ip", "-1"}
	if policyFile != "" {
		args = append(args, "-policy", policyFile)
	} else {
		args = append(args, "-sdk-http")
	}
	return spawn(bin, args...)
}

// startMCPGo spawns the mcp-go peer (bench/cmd/mcpgo) on a free loopback
// port, with the same token verification.
func startMCPGo(bin string) (*server, error) {
	return spawn(bin, "-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0", "-audience", audience, "-issuer", issuer)
}

// spawn starts a server that prints "listening on ADDR" and "debug on
// ADDR".
func spawn(bin string, args ...string) (*server, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "JWT_SECRET="+secret)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// "listening on ADDR", then "debug on ADDR".
	br := bufio.NewReader(stdout)
	var addrs [2]string
	for i, prefix := range []string{"listening on ", "debug on "} {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, prefix) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("server did not start: %q %v", line, err)
		}
		addrs[i] = strings.TrimSpace(strings.TrimPrefix(line, prefix))
	}
	go io.Copy(io.Discard, br)
	return &server{cmd: cmd, addr: addrs[0], debug: addrs[1]}, nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// stats is what the server process reports about itself.
type stats struct {
	RSSKB      float64 // resident set, from /proc
	HeapKB     float64 // HeapInuse, from expvar
	StackKB    float64 // StackInuse: goroutine stacks
	FreeKB     float64 // HeapIdle - HeapReleased: freed heap the runtime has not returned to the OS
	TotalAlloc float64 // bytes allocated so far, from expvar
	GCCPU      float64 // the runtime's estimate of its CPU seconds in garbage collection so far
	BusyCPU    float64 // and of its CPU seconds not idle (total minus idle), comparable with GCCPU
	Goroutines float64
	CPU        time.Duration // user + system so far
}

// gc runs a garbage collection in the server (pprof's heap handler does).
func (s *server) gc() {
	resp, err := http.Get("http://" + s.debug + "/debug/pprof/heap?gc=1")
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func (s *server) stats() (stats, error) {
	var st stats
	pid := s.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			st.RSSKB, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the parenthesised command: utime and stime are the
	// 12th and 13th, in clock ticks of 1/100 s.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.CPU = time.Duration(ut+stt) * 10 * time.Millisecond

	resp, err := http.Get("http://" + s.debug + "/debug/vars")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct{ HeapInuse, HeapIdle, HeapReleased, StackInuse, TotalAlloc uint64 } `json:"memstats"`
		Mcpws    struct {
			Goroutines int `json:"goroutines"`
			// The runtime's CPU classes (internal/debugvars).
			CPU struct{ GC, Total, Idle float64 } `json:"cpu_seconds"`
		} `json:"mcpws"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return st, err
	}
	st.HeapKB = float64(vars.Memstats.HeapInuse) / 1024
	st.StackKB = float64(vars.Memstats.StackInuse) / 1024
	st.FreeKB = float64(vars.Memstats.HeapIdle-vars.Memstats.HeapReleased) / 1024
	st.TotalAlloc = float64(vars.Memstats.TotalAlloc)
	st.GCCPU = vars.Mcpws.CPU.GC
	st.BusyCPU = vars.Mcpws.CPU.Total - vars.Mcpws.CPU.Idle
	st.Goroutines = float64(vars.Mcpws.Goroutines)
	return st, nil
}

// profilePath, if set, receives the server's CPU profile of a load phase.
var profilePath string

// heapProfilePath, if set, receives the server's heap profile with the
// idle sessions open.
var heapProfilePath string

// policyFile is the policy of the +policy transports (-policy).
var policyFile string

// mcpgoBin is the mcp-go peer's binary (-mcpgo).
var mcpgoBin string

// sdkfixBin is examples/everything built against the patched go-sdk
// (bench/sdkfix/build.sh), the server of the +sdkfix transports
// (-server-sdkfix).
var sdkfixBin string

// profile starts fetching a CPU profile of the server covering d, and
// returns a function that waits for it.
func (s *server) profile(d time.Duration) func() {
	if profilePath == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), profilePath); err != nil {
			log.Printf("server CPU profile: %v", err)
		}
	}()
	return func() { <-done }
}

// fetch writes what the server's debug listener answers at path to file.
func (s *server) fetch(path, file string) error {
	resp, err := http.Get("http://" + s.debug + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
