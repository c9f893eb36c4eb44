//go:build linux

package gateway

import (
	"os"
	"strconv"
	"strings"
)

// proc is one process as /proc/PID/stat shows it.
type proc struct {
	pid, ppid, pgid, sid int
	state                byte   // 'R', 'S', 'Z', ...
	start                uint64 // clock ticks after boot: with pid, names one process
}

// readProc reads /proc/PID/stat, or reports false when the process is gone.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	return parseStat(pid, string(b))
}

// parseStat parses "pid (comm) state ppid pgrp session ... starttime ...";
// comm may hold spaces and parentheses, so the fields start after the last
// ')'.
func parseStat(pid int, s string) (proc, bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 of proc(5), state; starttime is field 22.
	if len(f) < 20 || len(f[0]) != 1 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0][0]}
	var err error
	if p.ppid, err = strconv.Atoi(f[1]); err != nil {
		return proc{}, false
	}
	if p.pgid, err = strconv.Atoi(f[2]); err != nil {
		return proc{}, false
	}
	if p.sid, err = strconv.Atoi(f[3]); err != nil {
		return proc{}, false
	}
	if p.start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return proc{}, false
	}
	return p, true
}

// readProcs reads every process of /proc, by pid.
func readProcs() map[int]proc {
	ps := map[int]proc{}
	d, err := os.Open("/proc")
	if err != nil {
		return ps
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			ps[pid] = p
		}
	}
	return ps
}
