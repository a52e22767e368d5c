// The capacity benchmark's simulator: ONE `llm-router sim` process with all the workers, started
// from bin/llm-router.js (pinned when asked), ready once it has printed every worker's URL.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { startChild, type Child } from '../lib/procs.ts';
import { ROOT, type Options } from './options.ts';

export interface SimProcess {
  readonly child: Child;
  readonly urls: string[];
}

export async function startSim(o: Options, basePort: number, cpus: string | null): Promise<SimProcess> {
  const node = [...o.simNodeArgs, ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), join(ROOT, 'bin', 'llm-router.js')];
  const args = ['sim', '--workers', String(o.workers), '--base-port', String(basePort), '--profile', o.profile];
  const child = startChild('sim', process.execPath, [...node, ...args], { cpus, cwd: ROOT });
  const out = child.proc;
  const log = o.simLog ? createWriteStream(o.simLog, { flags: 'a' }) : null;
  if (log) {
    out.stdout!.on('data', (d: Buffer) => log.write(d));
    out.stderr!.on('data', (d: Buffer) => log.write(d));
    out.once('exit', () => log.end());
  }
  const urls: string[] = [];
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator not ready after 60 s; output: ${child.output().slice(-2000)}`)), 60_000);
    let buf = '';
    out.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^sim: (http:\/\/\S+)/.exec(line);
        if (m) urls.push(m[1]!);
        if (urls.length === o.workers) {
          clearTimeout(timer);
          ready();
        }
      }
    });
    out.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited early (${code ?? sig}); output: ${child.output().slice(-2000)}`));
    });
  });
  return { child, urls };
}
