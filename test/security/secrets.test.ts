// Secrets reach the processes from files or the environment, never from their command lines
// (`ps` shows those to every user of the host), and do what they are for: the worker API key is
// what vLLM's --api-key checks, the admin token opens the fleet API.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnRouter, waitForOutput, type RouterProcess } from '../helpers/processes.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { eventually, SIM_MODEL } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const WORKER_KEY = 'worker-key-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

async function cmdline(p: RouterProcess): Promise<string> {
  return (await readFile(`/proc/${p.proc.pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
}

describe('security - secrets from files and the environment', () => {
  const scope = cleanupScope();
  let stack: Stack;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmr-secrets-'));
    scope.after(() => rm(dir, { recursive: true, force: true }));
    // Workers that check a key, as vLLM started with --api-key does; no scheduler yet.
    stack = await startStack(scope, { workers: 1, schedulers: 0, sim: { apiKey: WORKER_KEY } });
  });
  after(() => scope.run());

  test('security - a worker started with an API key refuses a scheduler without it (401 passed on, not retried elsewhere)', async () => {
    const s = await stack.addScheduler({ id: 'keyless' });
    await stack.waitForWorkers(1);
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'hi', max_tokens: 2 });
    assert.equal(r.status, 401);
    await r.arrayBuffer();
    await s.stop(0);
    stack.schedulers.splice(stack.schedulers.indexOf(s), 1);
  });

  test('security - the scheduler command reads the worker API key from --worker-api-key-file, not its arguments', async () => {
    const keyFile = join(dir, 'worker-key');
    await writeFile(keyFile, `${WORKER_KEY}\n`);
    const child = spawnRouter(scope, ['scheduler', '--nats-url', stack.nats.url, '--metrics-port', '0', '--worker-api-key-file', keyFile], {
      NATS_USER: 'scheduler',
      NATS_PASSWORD: 'scheduler-dev',
    });
    await waitForOutput(child, /scheduler started/);
    await eventually(async () => {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'hi', max_tokens: 2 });
      await r.arrayBuffer();
      return r.status === 200;
    }, 'served with the key from the file');
    assert.doesNotMatch(await cmdline(child), new RegExp(WORKER_KEY));
    assert.doesNotMatch(child.output(), new RegExp(WORKER_KEY), 'never logged');
    child.kill('SIGTERM');
    await child.exited;
  });

  test('security - the ingress command reads the admin token from --admin-token-file; a wrong token is refused', async () => {
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, `${ADMIN_TOKEN}\n`);
    const child = spawnRouter(scope, ['ingress', '--nats-url', stack.nats.url, '--port', '0', '--metrics-port', '0', '--admin-token-file', tokenFile, '--admin-nats-user', 'admin'], {
      NATS_USER: 'ingress-2',
      NATS_PASSWORD: 'ingress-2-dev',
      LLMR_ADMIN_NATS_PASSWORD: 'admin-dev',
    });
    await waitForOutput(child, /ingress listening/);
    const url = /"address":"(http:\/\/[^"]+)"/.exec(child.output())![1]!;
    const ok = await rawRequest(url, { target: '/admin/v1/schedulers', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.notEqual(ok.status, 401, ok.body);
    const wrong = await rawRequest(url, { target: '/admin/v1/schedulers', headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await cmdline(child), new RegExp(ADMIN_TOKEN));
    child.kill('SIGTERM');
    await child.exited;
  });

  test('security - an unreadable secret file stops the process at start, naming the option', async () => {
    const child = spawnRouter(scope, ['ingress', '--nats-url', stack.nats.url, '--port', '0', '--metrics-port', '0', '--admin-token-file', join(dir, 'nope')], {
      NATS_USER: 'ingress-2',
      NATS_PASSWORD: 'ingress-2-dev',
    });
    assert.notEqual(await child.exited, 0);
    assert.match(child.output(), /--admin-token-file/);
  });
});

describe('security - secret files are read before the bus', () => {
  const scope = cleanupScope();
  after(() => scope.run());
  test('security - a scheduler with an unreadable --worker-api-key-file stops at once, even with no NATS to reach', async () => {
    const child = spawnRouter(scope, ['scheduler', '--nats-url', 'nats://127.0.0.1:1', '--metrics-port', '0', '--worker-api-key-file', '/nonexistent/worker-key']);
    assert.equal(await child.exited, 1);
    assert.match(child.output(), /scheduler cannot start: --worker-api-key-file: cannot read/);
  });
});
