//go:build linux

package gateway

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// ExecWithLimits is the helper that sets Options.MemoryLimit and
// FilesLimit: a program named as Options.LimitsHelper passes it the
// arguments that follow, "as=BYTES nofile=N -- COMMAND ARGS…". It sets the
// limits on its own process and execs COMMAND with the environment as it
// is, so that the limits hold from COMMAND's first instruction (setting
// them from outside, with prlimit, leaves a window after exec). It returns
// only on failure, with an exit code (2 for arguments it cannot read),
// having written why on stderr.
//
// "mcpws serve --rlimit-exec" is this helper.
func ExecWithLimits(args []string) int {
	return execWithLimits(args, os.Environ(), os.Stderr)
}

// execWithLimits is ExecWithLimits with its environment and stderr given.
//
// The limits are set with raw system calls right before a raw execve, on
// one locked thread, after everything is allocated: under a low address
// space limit the Go runtime itself could no longer start a thread.
func execWithLimits(args []string, environ []string, stderr io.Writer) int {
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
			fmt.Fprintf(stderr, "gateway: limits helper: %s: %v\n", args[i], err)
			return 2
		}
		limits = append(limits, l)
	}
	if i+1 >= len(args) {
		fmt.Fprintf(stderr, "gateway: limits helper: no command\n")
		return 2
	}
	argv := args[i+1:]
	path, err := syscall.BytePtrFromString(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "gateway: exec %s: %v\n", argv[0], err)
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
					fmt.Fprintf(stderr, "gateway: setting limit %d: %v\n", l.res, e)
					return 1
				}
			}
			_, _, e := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
			err = e
		}
	}
	fmt.Fprintf(stderr, "gateway: exec %s: %v\n", argv[0], err)
	return 1
}
