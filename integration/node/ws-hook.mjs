// Registers a resolve hook so that the MCP conformance suite, whose client is
// the TypeScript SDK's Streamable HTTP transport, speaks WebSocket for ws://
// and wss:// URLs. Use: node --import ./ws-hook.mjs conformance server --url ws://...
import { register } from 'node:module';

register(new URL('./ws-resolve.mjs', import.meta.url));
