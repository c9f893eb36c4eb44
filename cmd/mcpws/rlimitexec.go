package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// rlimitExecFlag makes "mcpws serve" set resource limits on itself and
// exec a command: mcpws serve --rlimit-exec as=BYTES nofile=N -- ARGV.
// The gateway starts a child this way when -child-memory or -child-files
// is set, so that the limits hold from the child's first instruction
// (setting them from outside, with prlimit, leaves a window after exec).
// Limits survive exec; the environment is passed as it is.
const rlimitExecFlag = "--rlimit-exec"

// rlimitExec runs the --rlimit-exec form; it returns only on failure.
//
// The limits are set with raw system calls right before a raw execve, on
// one locked thread, after everything is allocated: under a low address
// space limit the Go runtime itself could no longer start a thread.
func rlimitExec(args []string, environ []string, stderr io.Writer) int {
	type limit struct {
		res int
		val syscall.Rlimit
	}
	var limits []limit
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		name, v, _ := strings.Cut(args[i], "=")
		n, err := strconv.ParseUint(v, 10, 64)
		l := limit{val: syscall.Rlimit{Cur: n, Max: n}}
		switch name {
		case "as":
			l.res = syscall.RLIMIT_AS
		case "nofile":
			l.res = syscall.RLIMIT_NOFILE
		default:
			err = fmt.Errorf("unknown limit %q", name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "mcpws serve: %s %s: %v\n", rlimitExecFlag, args[i], err)
			return 2
		}
		limits = append(limits, l)
	}
	if i+1 >= len(args) {
		fmt.Fprintf(stderr, "mcpws serve: %s: no command\n", rlimitExecFlag)
		return 2
	}
	argv := args[i+1:]
	path, err := syscall.BytePtrFromString(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "mcpws serve: exec %s: %v\n", argv[0], err)
		return 1
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err == nil {
		var envp []*byte
		envp, err = syscall.SlicePtrFromStrings(environ)
		if err == nil {
			runtime.LockOSThread()
			for _, l := range limits {
				if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(l.res), uintptr(unsafe.Pointer(&l.val)), 0, 0, 0); e != 0 {
					fmt.Fprintf(stderr, "mcpws serve: setting limit %d: %v\n", l.res, e)
					return 1
				}
			}
			_, _, e := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
			err = e
		}
	}
	fmt.Fprintf(stderr, "mcpws serve: exec %s: %v\n", argv[0], err)
	return 1
}
