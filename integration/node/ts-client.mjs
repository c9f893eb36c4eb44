// A real TypeScript SDK client over the SDK's WebSocketClientTransport:
// lists tools, calls a tool that reports progress, and answers a sampling
// request in the middle of a tool call. Prints one JSON report on stdout.
//
//   node ts-client.mjs ws://127.0.0.1:8080/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const url = new URL(process.argv[2]);
const client = new Client({ name: 'mcpws-ts-client', version: '1.0.0' }, { capabilities: { sampling: {} } });
const sampled = [];
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  sampled.push(req.params.messages[0].content.text);
  return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'Paris' } };
});

await client.connect(new WebSocketClientTransport(url));
const report = { serverName: client.getServerVersion()?.name };

const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name);

const progress = [];
const withProgress = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
  onprogress: (p) => progress.push(p.progress),
});
report.progress = progress;
report.progressResult = withProgress.content[0].text;

const sampling = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital of France?' } });
report.sampled = sampled;
report.samplingResult = sampling.content[0].text;

await client.close();
console.log(JSON.stringify(report));
