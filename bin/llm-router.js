#!/usr/bin/env node
// The `llm-router` command. What it runs is one rule (entry-mode.js):
//   LLMR_FROM_SOURCE=1            the TypeScript sources, through tsx (development)
//   else dist/cli/main.js exists  the compiled build from `npm run build` (production: no tsx)
//   else                          the TypeScript sources, through tsx
// No source file is looked at: `npm start` and `npm run sim` rebuild a dist/ older than the
// sources before they start (scripts/check-build.mjs); in production, `npm run build` is the step.
// Running the sources, it sets LLMR_FROM_SOURCE=1 for the processes it starts (`dev`'s stack), so
// they run the same code.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryMode } from './entry-mode.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let main;
if (entryMode(root).from === 'dist') {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  process.env.LLMR_FROM_SOURCE = '1';
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    process.stderr.write(
      'llm-router: there is no build (dist/) and tsx, which runs the TypeScript sources, is a development dependency: run `npm run build` (production), or `npm ci` to install the development dependencies\n',
    );
    process.exit(1);
  }
  register();
  ({ main } = await import('../cli/main.ts'));
}
await main(process.argv);
