// Command mcpws reaches an MCP-over-WebSocket endpoint from hosts that speak
// only stdio, and puts any stdio MCP server behind mcpws's secure stack.
//
//	mcpws connect [flags] URL          stdio ↔ WebSocket bridge
//	mcpws serve [flags] -- COMMAND ARGS one COMMAND per session, at /mcp
//	mcpws version                      the release it was built as
//
// Install it with:
//
//	go install github.com/mcpws/mcpws/cmd/mcpws@latest
//
// or take an archive of `make dist` (docs/connect.md#install).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  mcpws connect [flags] URL            relay MCP on stdin/stdout to a ws:// or wss:// endpoint
  mcpws serve [flags] -- COMMAND ARGS  serve a stdio MCP server at /mcp, one process per session
  mcpws version                        print the version

Run "mcpws connect -h" or "mcpws serve -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process's exit code: 0
// on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "connect":
		return runConnect(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "mcpws: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
