// A transport for the TypeScript SDK's Client that sends an access token as
// the subprotocol entry mcp.auth.<token>: the SDK's own
// WebSocketClientTransport offers only 'mcp' and cannot carry a token. It
// needs a global WebSocket: Node 22 or later, or a browser. Calls whoami and
// prints the negotiated subprotocol and the caller's subject as JSON.
//
//   MCP_TOKEN=... node ts-token.mjs ws://127.0.0.1:8080/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';

export class TokenWebSocketTransport {
  constructor(url, token) {
    this.url = url;
    this.protocols = token ? ['mcp', 'mcp.auth.' + token] : ['mcp'];
  }

  start() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url, this.protocols);
      this.ws.onopen = () => resolve();
      this.ws.onerror = (event) => {
        const err = event.error ?? new Error(event.message ?? 'WebSocket error');
        reject(err);
        this.onerror?.(err);
      };
      this.ws.onclose = () => this.onclose?.();
      this.ws.onmessage = (event) => {
        try {
          this.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(event.data)));
        } catch (err) {
          this.onerror?.(err);
        }
      };
    });
  }

  async send(message) {
    this.ws.send(JSON.stringify(message));
  }

  async close() {
    this.ws?.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const transport = new TokenWebSocketTransport(process.argv[2], process.env.MCP_TOKEN);
  const client = new Client({ name: 'ts-token', version: '1.0.0' });
  await client.connect(transport);
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  console.log(JSON.stringify({ protocol: transport.ws.protocol, sub: who.structuredContent?.sub }));
  await client.close();
}
