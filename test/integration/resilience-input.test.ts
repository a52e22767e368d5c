// Bad input at the edges, each with its status and OpenAI-shaped body, none crashing anything or
// disturbing other requests: oversized headers, a body sent too slowly, broken HTTP, and garbage
// injected on a live stream's reply subject.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BundleEncoder, decodeBundle } from '../../proto/stream.ts';
import { parseInboundSubject, subjects } from '../../proto/subjects.ts';
import { SIM_MODEL, setFaults } from '../helpers/sim.ts';
import { postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

/** Speaks raw HTTP: `send` is called with a write function; resolves with everything the server sent. */
function rawHttp(port: number, send: (write: (s: string) => void) => void | Promise<void>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      void send((x) => {
        if (!s.destroyed) s.write(x);
      });
    });
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('close', () => resolve(data));
    s.on('error', (e) => (data ? resolve(data) : reject(e)));
  });
}

function bodyOf(raw: string): { error: { code: string; message: string; type: string } } {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string; type: string } };
}

describe('resilience - bad input', () => {
  let stack: Stack;
  let port: number;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingress: { clientTimeoutMs: 600 } });
    port = Number(new URL(stack.url()).port);
  });
  after(() => scope.run());

  test('resilience - oversized headers are 431', async () => {
    const raw = await rawHttp(port, (w) => w(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`));
    assert.match(raw, /^HTTP\/1.1 431 /);
    assert.equal(bodyOf(raw).error.code, 'LLMR_ERR_HEADERS_TOO_LARGE');
  });

  test('resilience - a body sent one byte at a time, too slowly, is 408', async () => {
    const body = JSON.stringify({ model: SIM_MODEL, prompt: 'slow', max_tokens: 2 });
    const raw = await rawHttp(port, async (w) => {
      w(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      for (const ch of body) {
        w(ch);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    assert.match(raw, /^HTTP\/1.1 408 /);
    assert.equal(bodyOf(raw).error.code, 'LLMR_ERR_REQUEST_TIMEOUT');
  });

  test('resilience - broken HTTP is 400', async () => {
    const raw = await rawHttp(port, (w) => w('THIS IS NOT HTTP\r\n\r\n'));
    assert.match(raw, /^HTTP\/1.1 400 /);
    assert.equal(bodyOf(raw).error.type, 'invalid_request_error');
  });

  test('resilience - the ingress still serves after all that', async () => {
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'ok', max_tokens: 2 });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  });

  test('resilience - garbage from a rogue scheduler: a live stream is resubmitted before its head, ends with a clear error after; others never notice', async () => {
    // The only principal that may publish into an ingress's answers is a scheduler (a broken or
    // compromised one here); reading the ingress's streams takes the ingress's own user.
    const spy = await stack.connect('ingress-1', 'spy');
    const rogue = await stack.connect('scheduler', 'rogue-scheduler');
    /** Streams as the spy sees them accepted, and by which scheduler. */
    const ids: { id: string; scheduler: string }[] = [];
    spy.subscribe(subjects.responseAll('ingress-1'), {
      callback: (_e, m) => {
        const at = parseInboundSubject(m.subject);
        if (!at || at.scheduler === null) return;
        decodeBundle(m.data, at.scheduler, {
          frame: (id, f) => {
            if (f.kind === 'accepted') ids.push({ id, scheduler: at.scheduler });
          },
          malformed: () => undefined,
        });
      },
    });
    await spy.flush();
    /** One frame that breaks the protocol for stream `id`: a second accepted, from its own scheduler. */
    const garbage = (to: { id: string; scheduler: string }): void => {
      const e = new BundleEncoder();
      e.add(to.id, 'accepted', 1, new Uint8Array(0));
      rogue.publish(subjects.frames('ingress-1', to.scheduler), e.take());
      rogue.publish(subjects.frames('ingress-1', to.scheduler), new TextEncoder().encode('not a bundle'));
    };
    const w = stack.workers[0]!;
    const faults = (f: Record<string, unknown>) => setFaults(w, f);
    await faults({ latencyMs: 400 });
    try {
      // Before the head: nothing reached the client, so the ingress puts the request back on the bus.
      const early = postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'victim', max_tokens: 3, stream: true });
      while (ids.length === 0) await new Promise((r) => setTimeout(r, 10));
      const bystander = postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'bystander', max_tokens: 3, stream: true });
      garbage(ids[0]!);
      rogue.publish(subjects.response('ingress-1', 'NOSUCHSTREAM'), 'garbage');
      rogue.publish(subjects.frames('ingress-1', 'sched-nobody'), 'garbage');
      await rogue.flush();
      const e = await early;
      assert.equal(e.status, 200);
      assert.ok((await readSse(e)).done, 'the resubmitted request completes');
      const b = await bystander;
      assert.equal(b.status, 200);
      assert.ok((await readSse(b)).done, 'the other stream completes');
      // After the head: bytes are out, the stream ends with an error event.
      await faults({ reset: true });
      ids.length = 0;
      const late = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'late victim', max_tokens: 2000, ignore_eos: true, stream: true });
      assert.equal(late.status, 200);
      const reader = late.body!.getReader();
      await reader.read();
      garbage(ids.at(-1)!);
      await rogue.flush();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /data: \{"error":\{[^\n]*LLMR_ERR_STREAM_BROKEN/);
    } finally {
      await faults({ reset: true });
    }
  });
});
