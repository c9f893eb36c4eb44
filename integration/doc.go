// Package integration holds end-to-end tests that run the examples as real
// processes and drive them with clients we did not write: the official MCP
// conformance suite and the TypeScript SDK, both on Node 22 from
// integration/node (installed by `make test`).
package integration
