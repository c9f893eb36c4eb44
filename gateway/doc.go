// Package gateway puts a stdio MCP server behind an mcpws endpoint: it
// runs the server's command once per session, in a process of its own, and
// relays the session's messages to the process's stdin and from its
// stdout, checked but never re-encoded. It is the engine of "mcpws serve"
// (docs/gateway.md), for a team that embeds a gateway in its own server:
//
//	gw, err := gateway.New(&gateway.Options{Command: []string{"npx", "-y", "@modelcontextprotocol/server-everything", "stdio"}, Env: []string{"PATH", "HOME"}})
//	…
//	endpoint := mcpws.NewConnEndpoint(gw.Session, &mcpws.Options{Transport: &wsmcp.HandlerOptions{Hooks: gw.Hooks()}})
//
// Each process gets an allow-listed environment, runs in its own process
// group, and is stopped at session end (stdin closed, SIGTERM, SIGKILL)
// with everything it started, however it detached; every process is
// waited for. Processes are bounded in total and per caller before the
// upgrade. The package needs Linux (process groups, a child subreaper,
// /proc); on other systems it is empty.
//
// The process side does not depend on WebSocket: a session is a stream of
// JSON-RPC texts in each direction, so another front (Streamable HTTP
// clients, through a go-sdk transport) can be relayed to the same
// processes later.
package gateway
