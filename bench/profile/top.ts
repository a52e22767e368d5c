// `node --import tsx bench/profile/top.ts <file.cpuprofile> [--top N]`: the hottest functions of a
// V8 CPU profile (what `node --cpu-prof` writes), by self time, and the share of the busy time
// spent in each package (node internals, undici, nats.js, fastify, prom-client, pino, our code).
// What the overhead benchmark's --cpu-prof directory is for: a before/after table for a change.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** Which package (or part of the runtime) a frame belongs to. */
export function packageOf(url: string, fn: string): string {
  if (url === '') return fn === '(garbage collector)' ? 'gc' : fn === '(idle)' || fn === '(program)' ? fn : 'native';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node';
  return 'ours';
}

export function summarize(p: Profile, top: number, skipMs = 0): { busyMs: number; frames: [string, number][]; packages: [string, number][] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    // Start-up (module loading, compilation) is not what a before/after comparison is about.
    if (t < skipMs * 1000) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const frames = new Map<string, number>();
  const pkgs = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName: fn, url, lineNumber } = n.callFrame;
    const pkg = packageOf(url, fn);
    if (pkg === '(idle)' || pkg === '(program)') continue;
    busy += us;
    const file = url.split('/').slice(-1)[0] ?? '';
    const key = `${fn || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''} [${pkg}]`;
    frames.set(key, (frames.get(key) ?? 0) + us);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { busyMs: busy / 1000, frames: sorted(frames).slice(0, top), packages: sorted(pkgs) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cmd = new Command('top')
    .argument('<profiles...>')
    .option('--top <n>', 'frames shown', (v) => Number(v), 25)
    .option('--skip <s>', 'leave out the first seconds of the profile (start-up)', (v) => Number(v), 0)
    .parse(process.argv);
  const o = cmd.opts<{ top: number; skip: number }>();
  for (const file of cmd.args) {
    const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, o.top, o.skip * 1000);
    const pct = (us: number): string => `${((us / 1000 / s.busyMs) * 100).toFixed(1)} %`;
    process.stdout.write(`\n${file}: ${(s.busyMs / 1000).toFixed(2)} s busy\n\npackage | share\n---|---\n`);
    for (const [k, v] of s.packages) process.stdout.write(`${k} | ${pct(v)}\n`);
    process.stdout.write('\nself time | frame\n---|---\n');
    for (const [k, v] of s.frames) process.stdout.write(`${pct(v)} | ${k}\n`);
  }
}
