// The TypeScript SDK's Client, for a browser page, with a small transport
// that offers the subprotocols ['mcp', 'mcp.auth.<token>'] (the SDK's own
// WebSocketClientTransport offers only 'mcp'). bundle.mjs turns this file
// into one script; the page calls window.mcpSDK.run(url, token).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';

class TokenWebSocketTransport {
  constructor(url, token) {
    this.url = url;
    this.protocols = token ? ['mcp', 'mcp.auth.' + token] : ['mcp'];
  }

  start() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, this.protocols);
      this.ws = ws;
      ws.onopen = () => resolve();
      ws.onerror = () => {
        const err = new Error('WebSocket error');
        reject(err);
        this.onerror?.(err);
      };
      ws.onclose = () => this.onclose?.();
      ws.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (err) {
          this.onerror?.(err);
          return;
        }
        this.onmessage?.(message);
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

export async function run(url, token) {
  const transport = new TokenWebSocketTransport(url, token);
  const client = new Client({ name: 'browser-sdk', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (err) {
    return { opened: false, error: String(err) };
  }
  const tools = await client.listTools();
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'from the TypeScript SDK in a browser' } });
  const result = {
    opened: true,
    protocol: transport.ws.protocol,
    server: client.getServerVersion()?.name,
    tools: tools.tools.length,
    whoami: who.structuredContent,
    echo: echo.content[0].text,
  };
  await client.close();
  return result;
}
