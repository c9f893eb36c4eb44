//go:build linux

package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
)

// maxStderrLine bounds one logged line of a child's stderr; the rest of
// the line is dropped.
const maxStderrLine = 4 << 10

// child is one running MCP server process: its stdin and stdout carry the
// protocol, its stderr goes to the log.
type child struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	stderr *os.File // read by logStderr
	log    *slog.Logger
	grace  time.Duration
	tree   *tree // what the process started, however it detached

	stopOnce sync.Once
	mu       sync.Mutex
	timers   []*time.Timer // SIGTERM, then SIGKILL
	reaped   bool
	stderrWG sync.WaitGroup
}

// spawnSpec is what starting a child needs.
type spawnSpec struct {
	argv  []string // argv[0] an absolute path
	env   []string
	grace time.Duration
	// helper and limits, when limits is not empty, start the child
	// through "helper... LIMITS -- argv" (Options.LimitsHelper), which
	// sets the limits on itself and then execs argv: the limits hold from
	// the first instruction of the child, with no window.
	helper []string
	limits []string
	log    *slog.Logger
}

// startChild starts a process in its own process group, so that stopping
// it stops what it started too.
func startChild(s spawnSpec) (*child, error) {
	argv := s.argv
	if len(s.limits) > 0 {
		argv = slices.Concat(s.helper, s.limits, []string{"--"}, s.argv)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         s.env,
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	// The child has its own copies now (or failed to start).
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	c := &child{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, log: s.log, grace: s.grace}
	c.stderrWG.Go(func() { c.logStderr(errR) })
	return c, nil
}

// stderrLinesPerSecond bounds the lines of one child's stderr logged per
// second (with as many in a burst); the others are counted in a summary.
const stderrLinesPerSecond = 100

// logSuppressed logs how many lines were dropped, if any, and resets it.
func (c *child) logSuppressed(n *int) {
	if *n > 0 {
		c.log.Warn("gateway: child stderr lines suppressed over the rate", "count", *n, "per_second", stderrLinesPerSecond)
		*n = 0
	}
}

// logStderr logs each line of r, cut at maxStderrLine.
func (c *child) logStderr(r *os.File) {
	defer r.Close()
	// A process cannot flood the log: beyond the rate, lines are counted.
	lim := rate.NewLimiter(stderrLinesPerSecond, stderrLinesPerSecond)
	var suppressed int
	defer c.logSuppressed(&suppressed)
	br := bufio.NewReaderSize(r, 512)
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line) < maxStderrLine {
			line = append(line, frag[:min(len(frag), maxStderrLine-len(line))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			if lim.Allow() {
				c.logSuppressed(&suppressed)
				c.log.Info("gateway: child stderr", "line", string(line))
			} else {
				suppressed++
			}
		}
		line = line[:0]
		if cap(line) > 1024 {
			line = nil // do not keep a long line's buffer for an idle child
		}
		if err != nil {
			return
		}
	}
}

// stop ends the child, once: its stdin is closed (the MCP stdio shutdown),
// then after the grace period its process group gets SIGTERM, then after as
// long again SIGKILL. It does not wait; wait does.
func (c *child) stop() {
	c.stopOnce.Do(func() {
		c.stdin.Close()
		// Tie what the process started to it while it still runs.
		c.tree.signal(0)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.reaped {
			return
		}
		c.timers = append(c.timers,
			time.AfterFunc(c.grace, func() { c.signal(syscall.SIGTERM) }),
			time.AfterFunc(2*c.grace, func() {
				c.signal(syscall.SIGKILL)
				// A process that left the group may still hold stdout:
				// stop waiting for its end.
				_ = c.stdout.SetReadDeadline(time.Now())
			}))
	})
}

// signal sends sig to the child's process group, unless it was reaped
// (its pid, and so its group id, may have been reused), and to what it
// started that left the group.
func (c *child) signal(sig syscall.Signal) {
	c.mu.Lock()
	if !c.reaped {
		_ = syscall.Kill(-c.cmd.Process.Pid, sig)
	}
	c.mu.Unlock()
	c.tree.signal(sig)
}

// wait reaps the child once it has exited, and describes how it ended.
// Call stop first, or a child that never exits is waited for forever.
func (c *child) wait() string {
	pid := c.cmd.Process.Pid
	// Wait for the exit without reaping: while the leader is a zombie its
	// pid, and so the group's id, cannot be reused, so what the child left
	// behind in its group can be killed without reaching anyone else.
	waitExited(pid)
	// What it started is the gateway's now (a subreaper): kill it all.
	c.tree.exited()
	// No signal after this point: once reaped, the pid may be reused.
	c.mu.Lock()
	c.reaped = true
	for _, t := range c.timers {
		t.Stop()
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	c.mu.Unlock()
	err := c.cmd.Wait()
	c.tree.reaped()
	c.stdin.Close()
	c.stdout.Close()
	// A descendant that left the process group may hold stderr open: log
	// what is there, but stop waiting after the grace period.
	_ = c.stderr.SetReadDeadline(time.Now().Add(c.grace))
	c.stderrWG.Wait()
	return exitReason(c.cmd.ProcessState, err)
}

// waitExited blocks until process pid has exited, leaving it to be reaped
// (waitid with WNOWAIT).
func waitExited(pid int) {
	const pPID, wEXITED, wNOWAIT = 1, 4, 0x01000000
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), wEXITED|wNOWAIT, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// exitReason describes how a process ended: "exit code 0", "signal killed".
func exitReason(st *os.ProcessState, err error) string {
	if st == nil {
		return fmt.Sprintf("wait: %v", err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit code " + strconv.Itoa(st.ExitCode())
}
