import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { LazyChild } from '../../runtime/lazy-log.ts';

/** A logger like the scheduler's (a child with its id), its lines, and how many children it made. */
function capture(level: string): { log: pino.Logger; lines: Record<string, unknown>[]; children: () => number } {
  const lines: Record<string, unknown>[] = [];
  let children = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level, onChild: () => void children++ }, sink).child({ schedulerId: 's-1' });
  return { log, lines, children: () => children - 1 };
}

describe('runtime-lazy-log', () => {
  test('runtime-lazy-log - lines below the level make no child logger', () => {
    const c = capture('info');
    const log = new LazyChild(c.log, { reqId: 'r-1', model: 'm' });
    log.debug({ workerId: 'w1' }, 'worker answered');
    assert.equal(c.children(), 0);
    assert.deepEqual(c.lines, []);
  });

  test('runtime-lazy-log - every line written carries the bindings, from one child made at the first', () => {
    const c = capture('info');
    const log = new LazyChild(c.log, { reqId: 'r-1', model: 'm' });
    log.warn({ workerId: 'w1', attempt: 1 }, 'worker call failed');
    log.debug({ workerId: 'w2' }, 'worker answered');
    log.info({ attempt: 2 }, 'request failed');
    log.error({ attempt: 3 }, 'dispatch failed');
    assert.equal(c.children(), 1);
    assert.deepEqual(
      c.lines.map(({ level, schedulerId, reqId, model, msg }) => ({ level, schedulerId, reqId, model, msg })),
      [
        { level: 40, schedulerId: 's-1', reqId: 'r-1', model: 'm', msg: 'worker call failed' },
        { level: 30, schedulerId: 's-1', reqId: 'r-1', model: 'm', msg: 'request failed' },
        { level: 50, schedulerId: 's-1', reqId: 'r-1', model: 'm', msg: 'dispatch failed' },
      ],
    );
    assert.equal(c.lines[0]?.workerId, 'w1');
  });

  test('runtime-lazy-log - at debug the debug lines carry the bindings too', () => {
    const c = capture('debug');
    const log = new LazyChild(c.log, { reqId: 'r-2', model: 'n' });
    log.debug({ workerId: 'w1', status: 200 }, 'worker answered');
    assert.equal(c.children(), 1);
    assert.deepEqual(
      c.lines.map(({ reqId, model, workerId, status }) => ({ reqId, model, workerId, status })),
      [{ reqId: 'r-2', model: 'n', workerId: 'w1', status: 200 }],
    );
  });
});
