package main

import (
	"context"
	"fmt"
	"io"
)

// runConnect runs "mcpws connect".
func runConnect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mcpws connect: not built yet")
	return 1
}
