// The project's root directory (where package.json, nats.conf and bin/ are), found from a module's
// own location. Modules run both from the sources and from the build in dist/, one level deeper,
// so a fixed `..` would point into dist/ in one of the two.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'llm-router') return dir;
      } catch {
        // not ours: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no llm-router package.json above ${fileURLToPath(moduleUrl)}`);
    dir = up;
  }
}
