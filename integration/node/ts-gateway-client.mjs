// The TypeScript SDK client against @modelcontextprotocol/server-everything
// run as the child of "mcpws serve": lists tools, calls echo, a tool that
// reports progress, and a tool that sends a sampling request, answered
// here. Prints one JSON report on stdout. The URL's scheme chooses the
// transport: WebSocket for ws://, Streamable HTTP for http://.
//
//   node ts-gateway-client.mjs ws://127.0.0.1:8080/mcp
//   node ts-gateway-client.mjs http://127.0.0.1:8080/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const client = new Client({ name: 'mcpws-gateway-client', version: '1.0.0' }, { capabilities: { sampling: {} } });
const sampled = [];
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  sampled.push(req.params.messages[0].content.text);
  return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'Paris' } };
});
const url = new URL(process.argv[2]);
await client.connect(url.protocol.startsWith('ws') ? new WebSocketClientTransport(url) : new StreamableHTTPClientTransport(url));
const report = { serverName: client.getServerVersion()?.name };

const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name);

const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello through the gateway' } });
report.echo = echo.content[0].text;

const progress = [];
await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
  onprogress: (p) => progress.push(p.progress),
});
report.progress = progress;

const sampling = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'Capital of France?', maxTokens: 10 } });
report.sampled = sampled;
report.samplingResult = JSON.stringify(sampling.content);

await client.close();
console.log(JSON.stringify(report));
