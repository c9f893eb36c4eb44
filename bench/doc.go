// Package bench holds the load generator (cmd/mcpbench), the plotting and
// table program (cmd/mcpplot) and the mcp-go peer server (cmd/mcpgo)
// behind docs/performance.md, and, in sdkfix/, the go-sdk JSON fix that
// make bench measures beside the released SDK. It is a module of its own
// so that the library's go.mod does not carry their dependencies.
package bench
