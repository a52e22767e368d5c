import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atEndOfTurn } from '../../runtime/end-of-turn.ts';

test('jobs queued in one turn run together, in order, after the turn and before the next one', async () => {
  const ran: string[] = [];
  atEndOfTurn(() => ran.push('a'));
  queueMicrotask(() => atEndOfTurn(() => ran.push('c')));
  atEndOfTurn(() => ran.push('b'));
  assert.equal(ran.join(','), '');
  await new Promise((r) => setImmediate(r));
  assert.equal(ran.join(','), 'a,b,c');
  // A job queued by a job waits for the next turn rather than extending this one forever.
  atEndOfTurn(() => {
    atEndOfTurn(() => ran.push('e'));
    ran.push('d');
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(ran.join(','), 'a,b,c,d');
  await new Promise((r) => setImmediate(r));
  assert.equal(ran.join(','), 'a,b,c,d,e');
});

test('a job that throws does not keep the others from running; its error still surfaces', async () => {
  const ran: string[] = [];
  // Captured here so that the test runner does not count it as this file's own failure.
  const surfaced = new Promise<unknown>((resolve) =>
    process.setUncaughtExceptionCaptureCallback((e) => {
      process.setUncaughtExceptionCaptureCallback(null);
      resolve(e);
    }),
  );
  atEndOfTurn(() => {
    throw new Error('boom');
  });
  atEndOfTurn(() => ran.push('after'));
  await new Promise((r) => setImmediate(r));
  assert.equal(ran.join(','), 'after');
  assert.equal(((await surfaced) as Error).message, 'boom');
});
