//go:build linux

package gateway

import (
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpws/mcpws/internal/proctest"
	"github.com/mcpws/mcpws/internal/testlog"
)

// startRoot starts a session's process under r: sleep, in its own group.
func startRoot(t *testing.T, r *reaper) (*exec.Cmd, *tree) {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	tr, err := r.start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, tr
}

// endRoot kills a root and goes through what the gateway does at its end.
func endRoot(t *testing.T, cmd *exec.Cmd, tr *tree) {
	t.Helper()
	_ = cmd.Process.Kill()
	waitExited(cmd.Process.Pid)
	tr.exited()
	_ = cmd.Wait()
	tr.reaped()
}

// An adopted process that two running sessions could have started (it
// left its parent and its session before a scan saw it) is a stray: it
// counts on its own, lives while either session does, and is killed and
// reaped once both have ended.
func TestReaperStray(t *testing.T) {
	log := &testlog.Buffer{}
	r, err := newReaper(slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	cmdA, a := startRoot(t, r)
	cmdB, b := startRoot(t, r)
	// Started from outside the trees, but after both roots, and orphaned
	// at once: only its start time ties it to them.
	out, err := exec.Command("/bin/sh", "-c", `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!`).Output()
	if err != nil {
		t.Fatal(err)
	}
	helper, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	t.Cleanup(func() {
		if proctest.Comm(helper) == "sleep" {
			_ = syscall.Kill(helper, syscall.SIGKILL)
		}
	})
	// Until setsid has run, the helper is in the gateway's own session and
	// group, as the gateway's own children are, and the reaper leaves it
	// alone: wait for the exec of sleep, which comes after.
	for deadline := time.Now().Add(10 * time.Second); proctest.Comm(helper) != "sleep"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the helper %d did not become sleep", helper)
		}
	}
	r.scan()
	if n := r.strayCount(); n != 1 {
		t.Fatalf("%d strays, want 1; log:\n%s", n, log)
	}
	endRoot(t, cmdA, a)
	r.scan()
	if n, st := r.strayCount(), proctest.State(helper); n != 1 || st == "" || st == "Z" {
		t.Fatalf("with session B running: %d strays, helper state %q; want 1, alive", n, st)
	}
	endRoot(t, cmdB, b)
	deadline := time.Now().Add(10 * time.Second)
	for r.scan(); r.strayCount() != 0 || proctest.State(helper) != ""; r.scan() {
		if time.Now().After(deadline) {
			t.Fatalf("both sessions ended: %d strays, helper state %q; want none, gone", r.strayCount(), proctest.State(helper))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A session's place (onEmpty) is given back only once what its process
// started, in a session of its own, is reaped too: not when the process
// itself is.
func TestReaperHoldsPlaceUntilReaped(t *testing.T) {
	r, err := newReaper(slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	cmd := exec.Command("/bin/sh", "-c", `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 300`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	emptied := make(chan struct{}, 1)
	tr, err := r.start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}, func() { emptied <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	var line [32]byte
	n, _ := out.Read(line[:])
	helper, _ := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	t.Cleanup(func() {
		if proctest.Comm(helper) == "sleep" {
			_ = syscall.Kill(helper, syscall.SIGKILL)
		}
	})
	if helper == 0 || proctest.State(helper) == "" {
		t.Fatalf("no helper (%q)", line[:n])
	}
	r.scan() // the helper is tied to the session by parentage
	endRoot(t, cmd, tr)
	// Killed by exited, but nobody has reaped it: the place is held.
	select {
	case <-emptied:
		t.Fatalf("place given back with the helper %d still there (state %q)", helper, proctest.State(helper))
	default:
	}
	if proctest.State(helper) == "" {
		t.Fatalf("helper %d gone before the reaper reaped it", helper)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.scan()
		select {
		case <-emptied:
			if st := proctest.State(helper); st != "" {
				t.Errorf("place given back, helper %d still there (state %q)", helper, st)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("place not given back; helper %d state %q", helper, proctest.State(helper))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
