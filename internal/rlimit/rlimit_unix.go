//go:build unix

// Package rlimit raises the open-file limit of programs that hold many
// sockets.
package rlimit

import "syscall"

// RaiseFiles lifts the soft limit on open files to the hard limit: every
// session is a socket.
func RaiseFiles() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
