// `npm run bench -- floor [options]`: what Node.js itself costs, against nginx and the router, in
// one run. Three systems on the same simulated workers, each round in a new order: nginx (as the
// overhead benchmark configures it), the bare Node.js proxy of bare-proxy.ts (one process, HTTP in
// and out, nothing else), and the router (ingress + scheduler + nats-server). Three phases:
//  - events: open-loop streams of --tokens tokens; CPU (schedstat, per process group, over the
//    window) ÷ the SSE events delivered in it;
//  - requests: open-loop 1-token streams; CPU ÷ requests;
//  - ttft: one 1-token stream at a time on idle CPUs; time to first body byte, and what each
//    system adds to a direct connection's.
// Why it exists: a design with Node.js at both HTTP ends can do no better than the bare proxy (its
// socket work is split over two processes, each with its own wake-ups), so the bare proxy's ratio
// to nginx is the lowest such a design can reach here; the router above it is what the design adds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import { Agent, request } from 'undici';
import { SERVER_NODE_FLAGS } from '../../runtime/node-flags.ts';
import { atLeast, benchCommand, wholeAtLeast } from '../lib/command.ts';
import { ensureNginx, startNginx } from '../lib/nginx.ts';
import { runSeconds } from '../lib/procfs.ts';
import { cleanupNow, freePort, installCleanupHooks, startChild, tcpAnswers, waitFor } from '../lib/procs.ts';
import { plainRouter, startRouter, waitForModel } from '../lib/router.ts';
import { summarize } from '../lib/stats.ts';
import { ROOT } from '../overhead/options.ts';
import { startSim, waitIdle } from '../overhead/sim.ts';

installCleanupHooks();
const o = benchCommand('floor', 'CPU per streamed event: nginx, a bare Node.js proxy and the router, side by side')
  .addOption(new Option('--rate <r>', 'events phase: streams started per second').argParser(atLeast(1)).default(100))
  .addOption(new Option('--tokens <n>', 'events phase: max_tokens of each stream').argParser(wholeAtLeast(1)).default(64))
  .addOption(new Option('--request-rate <r>', 'requests phase: 1-token streams per second').argParser(atLeast(1)).default(300))
  .addOption(new Option('--seconds <s>', 'measured window per system, phase and round').argParser(atLeast(1)).default(10))
  .addOption(new Option('--sequential <n>', 'ttft phase: requests per system and round').argParser(wholeAtLeast(10)).default(200))
  .addOption(new Option('--rounds <n>', 'rounds (each measures every system once, in a rotated order)').argParser(wholeAtLeast(1)).default(3))
  .option('--with-audit', 'add the router with --audit best_effort (ingress and scheduler, bodies hashed): what auditing costs', false)
  .addOption(new Option('--out <file>', 'results JSON (a Markdown table is written next to it)').default(join(ROOT, 'bench', 'results', 'floor.json')))
  .parse(process.argv)
  .opts<{ rate: number; tokens: number; requestRate: number; seconds: number; sequential: number; rounds: number; withAudit: boolean; out: string }>();

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const log = (s: string): void => void process.stderr.write(`[floor] ${s}\n`);
const sim = await startSim({ root: ROOT, workers: 4, profile: 'llama-3.1-8b-h100', cpus: null, env: {} });
const nginx = await startNginx(ensureNginx(log), await freePort(), sim.urls, null);
const barePort = await freePort();
const bare = startChild('bare-proxy', process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench', 'floor', 'bare-proxy.ts'), String(barePort), ...sim.urls], { cwd: ROOT });
await waitFor('the bare proxy to listen', () => tcpAnswers(barePort), 30_000, bare);
const router = await startRouter(plainRouter(ROOT), sim.urls);
await waitForModel(router.url, MODEL, 4, 30_000, router.ingress);

interface System {
  readonly name: string;
  readonly url: string;
  readonly groups: Readonly<Record<string, () => number[]>>;
}
const audited = o.withAudit
  ? await startRouter(
      {
        ...plainRouter(ROOT),
        jetstream: true,
        ingressArgs: ['--audit', 'best_effort'],
        schedulerArgs: ['--audit', 'best_effort'],
      },
      sim.urls,
    )
  : null;
if (audited) await waitForModel(audited.url, MODEL, 4, 30_000, audited.ingress);
const systems: System[] = [
  { name: 'nginx', url: nginx.url, groups: { nginx: () => nginx.pids() } },
  { name: 'node (bare proxy)', url: `http://127.0.0.1:${barePort}`, groups: { proxy: () => [bare.pid] } },
  { name: 'router', url: router.url, groups: { ingress: () => [router.ingress.pid], scheduler: () => [router.scheduler.pid], 'nats-server': () => [router.nats.pid] } },
  ...(audited
    ? [
        {
          name: 'router, audit on',
          url: audited.url,
          groups: { ingress: () => [audited.ingress.pid], scheduler: () => [audited.scheduler.pid], 'nats-server': () => [audited.nats.pid] },
        },
      ]
    : []),
];

const client = new Agent({ connections: 4096, keepAliveTimeout: 60_000 });
const bodyOf = (tokens: number): string => JSON.stringify({ model: MODEL, prompt: 'Hello, my name is', max_tokens: tokens, ignore_eos: true, stream: true });

/** One stream: the `data:` events it delivered (other than [DONE]) and its time to first body byte; null on failure. */
async function stream(url: string, body: string): Promise<{ events: number; ttftMs: number } | null> {
  try {
    const t0 = performance.now();
    const r = await request(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: client });
    let ttftMs = Number.NaN;
    let text = '';
    for await (const c of r.body) {
      if (Number.isNaN(ttftMs)) ttftMs = performance.now() - t0;
      text += c;
    }
    if (r.statusCode !== 200) return null;
    return { events: (text.match(/^data: (?!\[DONE\])/gm) ?? []).length, ttftMs };
  } catch {
    return null;
  }
}

/** Open-loop arrivals at `rate`/s for `seconds`; resolves when every stream has ended. */
async function load(url: string, rate: number, tokens: number, seconds: number): Promise<{ events: number; requests: number; failed: number }> {
  const body = bodyOf(tokens);
  const all: Promise<{ events: number } | null>[] = [];
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    const at = t0 + (i * 1000) / rate;
    if (at >= t0 + seconds * 1000) break;
    const wait = at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    all.push(stream(url, body));
  }
  const got = await Promise.all(all);
  const ok = got.filter((g) => g !== null);
  return { events: ok.reduce((s, g) => s + g.events, 0), requests: ok.length, failed: got.length - ok.length };
}

const cpuOf = (pids: number[]): number => pids.reduce((s, p) => s + (runSeconds(p) ?? 0), 0);

type Phase = 'events' | 'requests' | 'ttft';
interface Sample {
  readonly phase: Phase;
  readonly system: string;
  readonly round: number;
  /** events: CPU µs per event; requests: CPU µs per request; ttft: median ms. */
  readonly value: number;
  /** CPU phases: µs per unit by process group; ttft: p90 ms. */
  readonly parts: Record<string, number>;
  readonly failed: number;
}
const samples: Sample[] = [];
const save = (): void => writeFileSync(o.out, `${JSON.stringify({ options: o, node: process.version, at: new Date().toISOString(), samples }, null, 2)}\n`);

async function cpuPoint(s: System, phase: 'events' | 'requests', round: number): Promise<void> {
  const [rate, tokens] = phase === 'events' ? [o.rate, o.tokens] : [o.requestRate, 1];
  await load(s.url, rate, tokens, 2);
  await waitIdle(sim);
  // CPU from the first arrival to the last stream's end: every unit of the window, and nothing else.
  const before = Object.fromEntries(Object.entries(s.groups).map(([g, pids]) => [g, cpuOf(pids())]));
  const got = await load(s.url, rate, tokens, o.seconds);
  const units = Math.max(1, phase === 'events' ? got.events : got.requests);
  const parts = Object.fromEntries(Object.entries(s.groups).map(([g, pids]) => [g, ((cpuOf(pids()) - before[g]!) * 1e6) / units]));
  const value = Object.values(parts).reduce((a, b) => a + b, 0);
  samples.push({ phase, system: s.name, round, value, parts, failed: got.failed });
  log(`${phase} round ${round + 1}: ${s.name} ${value.toFixed(1)} µs per ${phase === 'events' ? 'event' : 'request'} (${got.failed} failed)`);
  await waitIdle(sim);
}

async function ttftPoint(name: string, url: string, round: number): Promise<void> {
  const body = bodyOf(1);
  const xs: number[] = [];
  let failed = 0;
  for (let i = 0; i < o.sequential; i++) {
    const r = await stream(url, body);
    if (r) xs.push(r.ttftMs);
    else failed++;
    await new Promise((res) => setTimeout(res, 5));
  }
  const st = summarize(xs);
  samples.push({ phase: 'ttft', system: name, round, value: st.p50, parts: { p90: st.p90 }, failed });
  log(`ttft round ${round + 1}: ${name} p50 ${st.p50.toFixed(2)} ms (${failed} failed)`);
}

const withDirect = [{ name: 'direct', url: sim.urls[0]! }, ...systems];
for (let round = 0; round < o.rounds; round++) {
  for (const phase of ['events', 'requests'] as const) {
    for (let k = 0; k < systems.length; k++) {
      await cpuPoint(systems[(k + round) % systems.length]!, phase, round);
      save();
    }
  }
  for (let k = 0; k < withDirect.length; k++) {
    const s = withDirect[(k + round) % withDirect.length]!;
    await ttftPoint(s.name, s.url, round);
    save();
  }
}

const of = (phase: Phase, system: string): Sample[] => samples.filter((x) => x.phase === phase && x.system === system);
const mean = (xs: number[]): number => summarize(xs).mean;
const spread = (xs: number[], digits: number): string => `**${mean(xs).toFixed(digits)}** (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
function cpuTable(phase: 'events' | 'requests', unit: string): string[] {
  const nginxMean = mean(of(phase, 'nginx').map((x) => x.value));
  return [
    `| System | CPU µs per ${unit}, mean (min–max over rounds) | × nginx | of which | failed |`,
    '|---|---|---|---|---|',
    ...systems.map((s) => {
      const mine = of(phase, s.name);
      const per = mine.map((x) => x.value);
      const parts = Object.keys(s.groups).map((g) => `${g} ${mean(mine.map((x) => x.parts[g]!)).toFixed(1)}`);
      return `| ${s.name} | ${spread(per, 1)} | ${(mean(per) / nginxMean).toFixed(2)} × | ${parts.join(' / ')} | ${mine.reduce((a, x) => a + x.failed, 0)} |`;
    }),
  ];
}
const directP50 = mean(of('ttft', 'direct').map((x) => x.value));
/** With --with-audit: what auditing adds to the router, from the same rounds. */
function auditLines(): string[] {
  if (!audited) return [];
  const ratio = (phase: Phase): string => `${((100 * mean(of(phase, 'router, audit on').map((x) => x.value))) / mean(of(phase, 'router').map((x) => x.value)) - 100).toFixed(1)} %`;
  const ttft = mean(of('ttft', 'router, audit on').map((x) => x.value)) - mean(of('ttft', 'router').map((x) => x.value));
  return [
    '## What auditing costs (`--audit best_effort`, bodies hashed, on the ingress and the scheduler)',
    '',
    `CPU per streamed event ${ratio('events')}, per request ${ratio('requests')} (ingress + scheduler + nats-server, JetStream storing four records a request); TTFT p50 ${ttft >= 0 ? '+' : ''}${ttft.toFixed(2)} ms, one request at a time.`,
    '',
  ];
}
const md = [
  '# What Node.js itself costs: nginx, a bare Node.js proxy, the router',
  '',
  `${new Date().toISOString()} · Node ${process.version} · 4 simulated workers (llama-3.1-8b-h100) · ${o.rounds} rounds, the order of the systems rotated each round · \`npm run bench -- floor\``,
  '',
  `## CPU per streamed event (${o.rate} streams/s × ${o.tokens} tokens, ${o.seconds} s per point)`,
  '',
  ...cpuTable('events', 'event'),
  '',
  `## CPU per request (${o.requestRate} 1-token streams/s, ${o.seconds} s per point)`,
  '',
  ...cpuTable('requests', 'request'),
  '',
  `## Time to first byte, one request at a time (${o.sequential} 1-token streams per system and round)`,
  '',
  '| System | TTFT p50, mean (min–max over rounds), ms | p90, ms | added p50 vs direct, ms | failed |',
  '|---|---|---|---|---|',
  ...withDirect.map((s) => {
    const mine = of('ttft', s.name);
    const p50 = mine.map((x) => x.value);
    const added = s.name === 'direct' ? '—' : (mean(p50) - directP50).toFixed(2);
    return `| ${s.name} | ${spread(p50, 2)} | ${mean(mine.map((x) => x.parts.p90!)).toFixed(2)} | ${added} | ${mine.reduce((a, x) => a + x.failed, 0)} |`;
  }),
  '',
  ...auditLines(),
].join('\n');
save();
writeFileSync(o.out.replace(/\.json$/, '.md'), md);
process.stdout.write(md);
cleanupNow();
process.exit(0);
