//go:build linux

package gateway

import "syscall"

// notDumpable marks the gateway not dumpable (prctl PR_SET_DUMPABLE 0):
// its /proc entries (environ, with JWT_SECRET; fd; mem) are then owned by
// root, and its children, which run as the same user, cannot read them.
// It protects nothing from root or from a process with CAP_SYS_PTRACE.
func notDumpable() error {
	const prSetDumpable = 4
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); e != 0 {
		return e
	}
	return nil
}
