package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
)

// rlimitExecFlag makes "mcpws serve" set resource limits on itself and
// exec a command: mcpws serve --rlimit-exec as=BYTES nofile=N -- ARGV.
// The gateway starts a child this way when -child-memory or -child-files
// is set, so that the limits hold from the child's first instruction
// (setting them from outside, with prlimit, leaves a window after exec).
// Limits survive exec; the environment is passed as it is.
const rlimitExecFlag = "--rlimit-exec"

// rlimitExec runs the --rlimit-exec form; it returns only on failure.
func rlimitExec(args []string, environ []string, stderr io.Writer) int {
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		name, v, _ := strings.Cut(args[i], "=")
		n, err := strconv.ParseUint(v, 10, 64)
		var res int
		switch name {
		case "as":
			res = syscall.RLIMIT_AS
		case "nofile":
			res = syscall.RLIMIT_NOFILE
		default:
			err = fmt.Errorf("unknown limit %q", name)
		}
		if err == nil {
			err = syscall.Setrlimit(res, &syscall.Rlimit{Cur: n, Max: n})
		}
		if err != nil {
			fmt.Fprintf(stderr, "mcpws serve: %s %s: %v\n", rlimitExecFlag, args[i], err)
			return 1
		}
	}
	if i+1 >= len(args) {
		fmt.Fprintf(stderr, "mcpws serve: %s: no command\n", rlimitExecFlag)
		return 2
	}
	argv := args[i+1:]
	err := syscall.Exec(argv[0], argv, environ)
	fmt.Fprintf(stderr, "mcpws serve: exec %s: %v\n", argv[0], err)
	return 1
}
