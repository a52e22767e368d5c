// `node --import tsx bench/micro/api-keys.ts`: what checking a bearer key costs per request as the
// keys file grows (10 to 100,000 keys), on this machine. The lookup is by the presented key's
// digest, so the cost must not grow with the number of keys. Prints a table and writes
// bench/results/micro-api-keys.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiKeys, parseApiKeys } from '../../ingress/api-keys.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const rows: { keys: number; hitUs: number; missUs: number }[] = [];

function perCall(fn: () => void, n: number): number {
  for (let i = 0; i < Math.min(n, 2000); i++) fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) / n) * 1000;
}

for (const n of [10, 1_000, 10_000, 100_000]) {
  const key = (i: number): string => `key-${i}-${'x'.repeat(40)}`;
  const keys = new ApiKeys(parseApiKeys(Array.from({ length: n }, (_, i) => `k${i}:${key(i)}`).join('\n'), 'bench'));
  const hit = key(n - 1);
  const miss = `nope-${'y'.repeat(40)}`;
  rows.push({ keys: n, hitUs: +perCall(() => keys.match(hit), 20_000).toFixed(2), missUs: +perCall(() => keys.match(miss), 20_000).toFixed(2) });
}

process.stdout.write(`| keys in the file | µs per request, right key | µs per request, wrong key |\n|---|---|---|\n`);
for (const r of rows) process.stdout.write(`| ${r.keys.toLocaleString('en')} | ${r.hitUs} | ${r.missUs} |\n`);
const out = join(ROOT, 'bench', 'results', 'micro-api-keys.json');
writeFileSync(out, `${JSON.stringify({ node: process.version, rows }, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
