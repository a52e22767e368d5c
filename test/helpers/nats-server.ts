// Spawns a real nats-server for a test suite (never a mock bus), after nats.js's nst launcher:
// a config (ours, or a given one) with port -1 and a ports file, JetStream in a temp store,
// wait for the ports file and a TCP connect, kill on failure. Restartable on the same port, for
// bus-fault tests. The binary: $NATS_SERVER_BIN, then PATH, then /usr/sbin.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { findNatsServer } from '../../runtime/nats-server-bin.ts';

export interface NatsServerOptions {
  /** A config file to load (e.g. the repo's nats.conf); the port and store dir are overridden. */
  readonly configFile?: string;
  /** Extra config text appended to the generated config (ignored with configFile). */
  readonly extraConfig?: string;
  readonly jetstream?: boolean;
}

export class NatsServer {
  readonly dir: string;
  readonly bin: string;
  readonly options: NatsServerOptions;
  port = -1;
  #proc: ChildProcess | null = null;
  #log = '';

  constructor(dir: string, bin: string, options: NatsServerOptions) {
    this.dir = dir;
    this.bin = bin;
    this.options = options;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#proc !== null && this.#proc.exitCode === null;
  }

  /** What the server printed (for failure messages). */
  get log(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    const args: string[] = [];
    const store = join(this.dir, 'js');
    if (this.options.configFile) {
      args.push('-c', this.options.configFile, '-sd', store);
    } else {
      const conf = join(this.dir, 'nats.conf');
      const js = this.options.jetstream === false ? '' : `jetstream { store_dir: "${store}" }\n`;
      await writeFile(conf, `listen: 127.0.0.1:-1\nmax_payload: 8MB\n${js}${this.options.extraConfig ?? ''}\n`);
      args.push('-c', conf);
    }
    args.push('-a', '127.0.0.1', '-p', String(this.port), '--ports_file_dir', this.dir);
    for (const f of await readdir(this.dir)) if (f.endsWith('.ports')) await rm(join(this.dir, f));
    const proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    const append = (b: Buffer): void => {
      this.#log = (this.#log + b.toString()).slice(-20_000);
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    try {
      this.port = await this.#waitForPort(proc);
      await waitForTcp(this.port);
    } catch (e) {
      proc.kill('SIGKILL');
      this.#proc = null;
      throw new Error(`nats-server did not start: ${(e as Error).message}\n${this.#log}`);
    }
  }

  async #waitForPort(proc: ChildProcess): Promise<number> {
    const file = join(this.dir, `nats-server_${proc.pid}.ports`);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}`);
      try {
        const ports = JSON.parse(await readFile(file, 'utf8')) as { nats?: string[] };
        const u = ports.nats?.[0];
        if (u) return Number(new URL(u).port);
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no ports file after 10 s');
  }

  /** Stops the server (SIGKILL when `hard`, as a crash). The port is kept for a restart. */
  async stop(hard = false): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

function waitForTcp(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} does not accept connections`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

/**
 * Starts a server for the suite `t` and stops it (and removes its files) when `t` ends. Fails,
 * saying how to install it, when the binary is missing.
 */
export async function startNatsServer(t: Pick<TestContext, 'after'>, options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error('nats-server is not installed: install the OS package (apt-get install nats-server) or set NATS_SERVER_BIN');
  }
  const dir = await mkdtemp(join(tmpdir(), 'llmr-nats-'));
  const server = new NatsServer(dir, bin, options);
  t.after(async () => {
    await server.stop(true);
    await rm(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}
