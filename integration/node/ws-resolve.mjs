// Module resolve hook: the SDK's client/streamableHttp.js is replaced by
// ws-transport.mjs, except when ws-transport.mjs itself imports it.
const target = '@modelcontextprotocol/sdk/client/streamableHttp.js';
const shim = new URL('./ws-transport.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === target && context.parentURL !== shim) {
    return { url: shim, shortCircuit: true };
  }
  return next(specifier, context);
}
