// Bundles browser-sdk.mjs for browsers into the file named on the command
// line, as the global window.mcpSDK.
import { build } from 'esbuild';

await build({
  entryPoints: ['browser-sdk.mjs'],
  bundle: true,
  format: 'iife',
  globalName: 'mcpSDK',
  platform: 'browser',
  target: 'es2022',
  outfile: process.argv[2],
  logLevel: 'warning',
});
