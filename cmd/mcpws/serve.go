package main

import (
	"context"
	"fmt"
	"io"
)

// runServe runs "mcpws serve".
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mcpws serve: not built yet")
	return 1
}
