// `llm-router dev` (`npm start`): a whole local stack on one machine. Uses the NATS at NATS_URL
// when one answers there, else starts `nats-server -c nats.conf`; then a scheduler, an ingress,
// simulated workers and their agents, each its own process (as in production), with their
// output prefixed. Ctrl-C stops all of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { POLICY_TYPES, type PolicyType } from '../scheduler/policies/index.ts';
import { PROFILE_NAMES, type ProfileName } from '../sim/profiles.ts';
import { freePortRange, tcpAnswers } from '../runtime/net.ts';
import { SERVER_NODE_FLAGS } from '../runtime/node-flags.ts';
import { findNatsServer } from '../runtime/nats-server-bin.ts';
import { packageRoot } from '../runtime/package-root.ts';
import { integer, port } from './parsers.ts';

const ROOT = packageRoot(import.meta.url);
const BIN = join(ROOT, 'bin', 'llm-router.js');
const NATS_CONF = join(ROOT, 'nats.conf');
/** nats.conf's users (passwords `<user>-dev`, for local use only); an ingress's or agent's id is its user. */
type DevUser = 'ingress-1' | 'scheduler' | 'agent-1' | 'agent-2' | 'agent-zmq';

interface DevFlags {
  workers: number;
  pd?: boolean;
  kvConnector: 'nixl' | 'p2p-nccl';
  policy: PolicyType;
  port: number;
  host: string;
  profile: ProfileName;
  natsUrl: string;
  logLevel: string;
}

/** A base port with `n` free consecutive ports after it. */
export function devCommand(): Command {
  return new Command('dev')
    .description('run a whole local stack: NATS (if none answers), a scheduler, an ingress, simulated workers (optionally P/D) and agents')
    .addOption(new Option('--workers <n>', 'simulated workers (with --pd: per role)').argParser(integer(1, 64)).default(2))
    .addOption(new Option('--pd', 'a prefill/decode fleet: --workers prefill and --workers decode workers'))
    .addOption(new Option('--kv-connector <kind>', 'with --pd: how KV moves').choices(['nixl', 'p2p-nccl']).default('nixl'))
    .addOption(new Option('--policy <type>', 'scheduling policy').choices(POLICY_TYPES).default('power_of_two'))
    .addOption(new Option('--port <port>', 'ingress port').argParser(port).default(8000))
    .addOption(new Option('--host <addr>', 'ingress address').default('127.0.0.1'))
    .addOption(new Option('--profile <name>', 'simulated engine').choices(PROFILE_NAMES).default('llama-3.1-8b-h100'))
    .addOption(new Option('--nats-url <url>', 'use this NATS if it answers, else start one here').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--log-level <level>', 'log level of the processes').default('warn'))
    .action(async (f: DevFlags) => {
      const children: { name: string; proc: ChildProcess }[] = [];
      let storeDir: string | null = null;
      const stopAll = async (): Promise<void> => {
        for (const c of [...children].reverse()) c.proc.kill('SIGTERM');
        await Promise.all(children.map((c) => (c.proc.exitCode === null ? new Promise((r) => c.proc.once('exit', r)) : null)));
        if (storeDir) rmSync(storeDir, { recursive: true, force: true });
      };
      const run = (name: string, cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
        const proc = spawn(cmd, args, { env: { ...process.env, LOG_LEVEL: f.logLevel, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        const prefix = (chunk: Buffer): void => {
          for (const line of chunk.toString().split('\n')) if (line) process.stdout.write(`[${name}] ${line}\n`);
        };
        proc.stdout?.on('data', prefix);
        proc.stderr?.on('data', prefix);
        proc.once('exit', (code, signal) => {
          if (!stopping) {
            process.stdout.write(`[dev] ${name} exited (${signal ?? code}); stopping the stack\n`);
            void stopAll().then(() => process.exit(1));
          }
        });
        children.push({ name, proc });
        return proc;
      };
      let stopping = false;
      const onSignal = (): void => {
        if (stopping) process.exit(1);
        stopping = true;
        process.stdout.write('\n[dev] stopping…\n');
        void stopAll().then(() => process.exit(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      const nats = new URL(f.natsUrl.split(',')[0]!.replace(/^nats:/, 'http:'));
      const natsPort = Number(nats.port || 4222);
      if (await tcpAnswers(natsPort, nats.hostname)) {
        process.stdout.write(`[dev] using the NATS at ${f.natsUrl}\n`);
      } else {
        const natsBin = findNatsServer();
        if (natsBin === null) throw new Error('no NATS answers at NATS_URL and nats-server is not installed (apt-get install nats-server)');
        storeDir = mkdtempSync(join(tmpdir(), 'llmr-dev-js-'));
        process.stdout.write(`[dev] starting nats-server -c nats.conf on port ${natsPort}\n`);
        run('nats', natsBin, ['-c', NATS_CONF, '-a', nats.hostname, '-p', String(natsPort), '-sd', storeDir]);
        for (let i = 0; i < 50 && !(await tcpAnswers(natsPort, nats.hostname)); i++) await new Promise((r) => setTimeout(r, 100));
      }
      // Secrets go to the children through the environment, never their arguments (`ps` shows those).
      const bus = (user: DevUser): Record<string, string> => ({ NATS_URL: f.natsUrl, NATS_USER: user, NATS_PASSWORD: `${user}-dev` });

      const waitPort = async (p: number): Promise<void> => {
        for (let i = 0; i < 50 && !(await tcpAnswers(p)); i++) await new Promise((r) => setTimeout(r, 100));
      };
      const sim = (role: string, base: number, extra: string[] = []): string[] => {
        run(`sim-${role}`, process.execPath, [BIN, 'sim', '--workers', String(f.workers), '--base-port', String(base), '--role', role, '--profile', f.profile, ...extra]);
        return Array.from({ length: f.workers }, (_, i) => `http://127.0.0.1:${base + i}`);
      };
      // Metrics on the usual ports when they are free, else the next free ones: a second stack
      // (or a benchmark) on the same machine must not stop this one from starting.
      const schedulerMetrics = await freePortRange(1, 29000);
      const ingressMetrics = await freePortRange(1, 29100);
      run('scheduler', process.execPath, [...SERVER_NODE_FLAGS, BIN, 'scheduler', '--policy', f.policy, '--metrics-port', String(schedulerMetrics)], bus('scheduler'));
      let fleet: string;
      if (!f.pd) {
        const base = await freePortRange(f.workers, 8100);
        const urls = sim('both', base);
        await waitPort(base + f.workers - 1);
        run('agent', process.execPath, [BIN, 'agent', '--worker', urls.join(',')], bus('agent-1'));
        fleet = `${f.workers} simulated worker(s)`;
      } else if (f.kvConnector === 'nixl') {
        const base = await freePortRange(2 * f.workers, 8100);
        const p = sim('prefill', base);
        const d = sim('decode', base + f.workers);
        await waitPort(base + 2 * f.workers - 1);
        run('agent-prefill', process.execPath, [BIN, 'agent', '--worker', p.join(','), '--role', 'prefill'], bus('agent-1'));
        run('agent-decode', process.execPath, [BIN, 'agent', '--worker', d.join(','), '--role', 'decode'], bus('agent-2'));
        fleet = `${f.workers} prefill + ${f.workers} decode simulated workers (NIXL)`;
      } else {
        const discoveryPort = await freePortRange(1, 30001);
        const proxy = `tcp://127.0.0.1:${discoveryPort}`;
        run('discover-zmq', process.execPath, [BIN, 'discover-zmq', '--bind', proxy, '--allow', '127.0.0.0/8'], bus('agent-zmq'));
        await waitPort(discoveryPort);
        const base = await freePortRange(2 * f.workers, 8100);
        const kvBase = await freePortRange(2 * f.workers, 21001);
        const connector = ['--kv-connector', 'p2p-nccl', '--proxy', proxy];
        sim('prefill', base, [...connector, '--kv-base-port', String(kvBase)]);
        sim('decode', base + f.workers, [...connector, '--kv-base-port', String(kvBase + f.workers)]);
        fleet = `${f.workers} prefill + ${f.workers} decode simulated workers (P2P-NCCL, ZeroMQ discovery at ${proxy})`;
      }
      run('ingress', process.execPath, [...SERVER_NODE_FLAGS, BIN, 'ingress', '--host', f.host, '--port', String(f.port), '--metrics-port', String(ingressMetrics)], bus('ingress-1'));

      const ingress = `http://${f.host}:${f.port}`;
      // A loaded machine compiling the sources may take a while; a child that exits stops the stack.
      let ready = false;
      for (let i = 0; i < 600 && !ready && !stopping; i++) {
        try {
          ready = (await fetch(`${ingress}/readiness`)).status === 200;
        } catch {
          // not listening yet
        }
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      if (stopping) return;
      if (!ready) throw new Error(`the ingress at ${ingress} was not ready within 60 s`);
      const models = (await (await fetch(`${ingress}/v1/models`)).json()) as { data: { id: string }[] };
      const model = models.data[0]?.id ?? 'MODEL';
      process.stdout.write(
        [
          '',
          `[dev] ready: ingress ${ingress}, ${fleet} (${f.profile}), policy ${f.policy}`,
          `[dev] metrics: ingress http://127.0.0.1:${ingressMetrics}/metrics, scheduler http://127.0.0.1:${schedulerMetrics}/metrics`,
          '',
          'Try it:',
          `  curl -s ${ingress}/v1/chat/completions -H 'content-type: application/json' \\`,
          `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'`,
          '',
          `  curl -sN ${ingress}/v1/completions -H 'content-type: application/json' \\`,
          `    -d '{"model": "${model}", "prompt": "Once upon a time", "max_tokens": 16, "stream": true}'`,
          '',
          '  // Node, with the official client (npm i openai):',
          `  import OpenAI from 'openai';`,
          `  const client = new OpenAI({ baseURL: '${ingress}/v1', apiKey: 'unused' });`,
          `  const r = await client.chat.completions.create({ model: '${model}', messages: [{ role: 'user', content: 'Hello!' }] });`,
          '  console.log(r.choices[0].message.content);',
          '',
          'Ctrl-C stops everything.',
          '',
        ].join('\n'),
      );
    });
}
