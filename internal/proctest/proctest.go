// Package proctest reads what tests of the gateway check about a process,
// from /proc (Linux).
package proctest

import (
	"os"
	"strconv"
	"strings"
)

// State returns the state letter of process pid ("S", "Z", ...), or ""
// when there is no such process.
func State(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// Comm returns the command name of process pid, or "".
func Comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}
