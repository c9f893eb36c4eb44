// The TypeScript SDK's Client over its own StreamableHTTPClientTransport,
// with the access token in an Authorization header as any HTTP host sends
// it: lists the tools, calls whoami, ends the session with DELETE, and
// prints what it saw as JSON. Without MCP_TOKEN it sends no header; on a
// failure it prints the error's name, HTTP status and message as JSON and
// exits 1.
//
//   MCP_TOKEN=... node ts-http.mjs http://127.0.0.1:8080/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const token = process.env.MCP_TOKEN;
const transport = new StreamableHTTPClientTransport(new URL(process.argv[2]), {
  requestInit: token ? { headers: { Authorization: 'Bearer ' + token } } : {},
});
const client = new Client({ name: 'ts-http', version: '1.0.0' });
try {
  await client.connect(transport);
  const sessionId = transport.sessionId;
  const { tools } = await client.listTools();
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  await transport.terminateSession();
  await client.close();
  console.log(JSON.stringify({
    serverName: client.getServerVersion()?.name,
    protocolVersion: transport.protocolVersion,
    session: Boolean(sessionId),
    terminated: transport.sessionId === undefined,
    tools: tools.map((t) => t.name),
    sub: who.structuredContent?.sub,
  }));
} catch (err) {
  console.log(JSON.stringify({ error: err.constructor.name, code: err.code, message: err.message }));
  await client.close().catch(() => {});
  process.exit(1);
}
