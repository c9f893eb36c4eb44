// Adds "Authorization: Bearer $MCP_TOKEN" to every fetch, so that a client
// that takes no token (the MCP conformance suite's) reaches an endpoint
// with authentication on. Use: MCP_TOKEN=... node --import ./bearer-hook.mjs ...
const token = process.env.MCP_TOKEN;
if (!token) throw new Error('bearer-hook: MCP_TOKEN is not set');
const fetch0 = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('Authorization', `Bearer ${token}`);
  return fetch0(input, { ...init, headers });
};
