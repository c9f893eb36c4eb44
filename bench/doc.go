// Package bench holds the load generator (cmd/mcpbench) and the plotting
// program (cmd/mcpplot) behind docs/performance.md. It is a module of its
// own so that the library's go.mod does not carry their dependencies.
package bench
