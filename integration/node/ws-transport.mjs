// StreamableHTTPClientTransport that uses the SDK's WebSocketClientTransport
// for ws:// and wss:// URLs and the real Streamable HTTP transport otherwise.
import { StreamableHTTPClientTransport as HTTPTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';

export * from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export class StreamableHTTPClientTransport {
  constructor(url, opts) {
    const u = new URL(url);
    const inner = u.protocol === 'ws:' || u.protocol === 'wss:' ? new WebSocketClientTransport(u) : new HTTPTransport(u, opts);
    // Forward the callbacks the Client sets on us to the real transport.
    return new Proxy(inner, {});
  }
}
