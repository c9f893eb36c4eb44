//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

// runServe refuses: the gateway needs Linux (process groups, a child
// subreaper, /proc). "mcpws connect" works everywhere.
func runServe(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mcpws serve needs Linux: run the gateway on a Linux machine or in a Linux container; mcpws connect works here")
	return 2
}
