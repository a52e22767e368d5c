// `node --import tsx bench/overhead/probe-syscalls.ts [--rate 300] [--tokens 1] [--seconds 8]`: a
// diagnostic, not part of the report. One router stack on 4 simulated workers under a fixed
// open-loop load; prints, per request, each router process's read and write system calls,
// context switches (/proc/<pid>/io, /proc/<pid>/status) and CPU (schedstat), and the end-to-end
// latency. What it is for: telling whether a change saves work or only moves it (a profile's
// wall-clock samples charge a write that wakes another process with the time it was preempted).
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { request } from 'undici';
import { atLeast, benchCommand, collect } from '../lib/command.ts';
import { runSeconds } from '../lib/procfs.ts';
import { startRouter, waitForModel } from '../lib/router.ts';
import { cleanupNow, installCleanupHooks } from '../lib/procs.ts';
import { startSim } from './sim.ts';
import { ROOT } from './options.ts';

function sample(pid: number): { r: number; w: number; cs: number; cpu: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const num = (re: RegExp, s: string): number => Number(re.exec(s)?.[1] ?? NaN);
  const cpu = (runSeconds(pid) ?? Number.NaN) * 1e6;
  return { r: num(/syscr: (\d+)/, io), w: num(/syscw: (\d+)/, io), cs: num(/voluntary_ctxt_switches:\s+(\d+)/, st) + num(/nonvoluntary_ctxt_switches:\s+(\d+)/, st), cpu };
}

installCleanupHooks();
const o = benchCommand('probe-syscalls', "system calls, context switches and CPU per request of the router's processes")
  .addOption(new Option('--rate <r>', 'requests per second').argParser(atLeast(1)).default(300))
  .addOption(new Option('--tokens <n>', 'max_tokens of each (streamed) request').argParser(atLeast(1)).default(1))
  .addOption(new Option('--seconds <s>', 'measured window').argParser(atLeast(1)).default(8))
  .addOption(new Option('--node-arg <flag>', 'an extra node flag for the scheduler and ingress (repeatable)').argParser(collect).default([]))
  .addOption(new Option('--cpu-prof <dir>', "write the scheduler's and the ingress's CPU profiles here"))
  .option('--logs', "print the end of the router's and the simulator's output", false)
  .parse(process.argv)
  .opts<{ rate: number; tokens: number; seconds: number; nodeArg: string[]; cpuProf?: string; logs: boolean }>();
const { rate, tokens, seconds } = o;
const sim = await startSim({ root: ROOT, workers: 4, profile: 'llama-3.1-8b-h100', cpus: null, env: {} });
const router = await startRouter(
  { root: ROOT, policy: 'round_robin', logLevel: 'warn', cpus: null, nodeFlags: [...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), ...o.nodeArg], entry: null, env: {} },
  sim.urls,
);
await waitForModel(router.url, 'meta-llama/Llama-3.1-8B-Instruct', 4);
const body = JSON.stringify({ model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: 'Hello, my name is', max_tokens: tokens, ignore_eos: true, stream: true });
const e2e: number[] = [];
const one = async (): Promise<void> => {
  const t0 = performance.now();
  const r = await request(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await r.body.text();
  e2e.push(performance.now() - t0);
};
const run = async (s: number): Promise<number> => {
  const until = performance.now() + s * 1000;
  const all: Promise<void>[] = [];
  for (let next = performance.now(); next < until; next += 1000 / rate) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    all.push(one());
  }
  await Promise.all(all);
  return all.length;
};
await run(2);
const pids = { ingress: router.ingress.pid, scheduler: router.scheduler.pid, nats: router.nats.pid };
const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, sample(p)]));
e2e.length = 0;
const n = await run(seconds);
e2e.sort((a, b) => a - b);
process.stdout.write(`e2e p50 ${e2e[Math.floor(e2e.length / 2)]!.toFixed(1)} ms, p99 ${e2e[Math.floor(e2e.length * 0.99)]!.toFixed(1)} ms over ${n} requests\n`);
for (const [k, p] of Object.entries(pids)) {
  const a = before[k]!;
  const b = sample(p);
  process.stdout.write(
    `${k}: per request ${((b.r - a.r) / n).toFixed(1)} reads, ${((b.w - a.w) / n).toFixed(1)} writes, ${((b.cs - a.cs) / n).toFixed(1)} context switches, ${((b.cpu - a.cpu) / n).toFixed(0)} µs CPU\n`,
  );
}
if (o.logs) for (const c of [router.scheduler, router.ingress, sim.child]) process.stdout.write(`--- ${c.name}\n${c.output().slice(-3000)}\n`);
// SIGTERM first, so that --cpu-prof profiles get written.
for (const c of [router.ingress, router.scheduler]) c.proc.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 3000));
cleanupNow();
process.exit(0);
