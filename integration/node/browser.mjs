// Loads each page URL given on the command line in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) and prints, as one
// JSON array, what each page stored in window.mcpResult.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const userDataDir = mkdtempSync(join(tmpdir(), 'mcpws-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const results = [];
try {
  for (const url of process.argv.slice(2)) {
    const page = await context.newPage();
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    await page.goto(url);
    await page.waitForFunction(() => window.mcpResult !== undefined, null, { timeout: 20000 });
    results.push({ url, result: await page.evaluate(() => window.mcpResult), console: console_ });
    await page.close();
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
