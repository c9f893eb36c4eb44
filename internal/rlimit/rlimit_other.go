//go:build !unix

package rlimit

// RaiseFiles does nothing where there is no RLIMIT_NOFILE.
func RaiseFiles() {}
