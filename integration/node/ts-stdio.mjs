// The TypeScript SDK's Client over its StdioClientTransport, launching
// `mcpws connect URL` as if it were a local stdio server: lists tools,
// calls a tool that reports progress, and answers a sampling request in the
// middle of a tool call. Prints one JSON report on stdout.
//
//   node ts-stdio.mjs /path/to/mcpws ws://127.0.0.1:8080/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const [bin, url] = process.argv.slice(2);
const client = new Client({ name: 'mcpws-ts-stdio', version: '1.0.0' }, { capabilities: { sampling: {} } });
const sampled = [];
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  sampled.push(req.params.messages[0].content.text);
  return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'Paris' } };
});

await client.connect(new StdioClientTransport({ command: bin, args: ['connect', url], stderr: 'inherit' }));
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

const echo = await client.callTool({ name: 'echo', arguments: { text: 'through the bridge' } });
report.echo = echo.content[0].text;

await client.close();
console.log(JSON.stringify(report));
