import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../sim/clock.ts';

describe('clock', () => {
  test('clock - a virtual clock starts at 0 and only moves when run', () => {
    const c = new VirtualClock();
    assert.equal(c.now(), 0);
    c.after(100, () => {});
    assert.equal(c.now(), 0);
    c.run();
    assert.equal(c.now(), 100);
  });

  test('clock - timers fire in time order, equal times in the order they were set', () => {
    const c = new VirtualClock();
    const fired: string[] = [];
    const at: number[] = [];
    const add = (ms: number, name: string): void => {
      c.after(ms, () => {
        fired.push(name);
        at.push(c.now());
      });
    };
    add(30, 'c');
    add(10, 'a1');
    add(20, 'b');
    add(10, 'a2');
    add(0, 'z');
    add(10, 'a3');
    c.run();
    assert.deepEqual(fired, ['z', 'a1', 'a2', 'a3', 'b', 'c']);
    assert.deepEqual(at, [0, 10, 10, 10, 20, 30]);
  });

  test('clock - many timers come out sorted (heap order)', () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    const delays = Array.from({ length: 200 }, (_, i) => (i * 7919) % 101);
    for (const d of delays) c.after(d, () => fired.push(c.now()));
    c.run();
    assert.deepEqual(
      fired,
      delays.slice().sort((a, b) => a - b),
    );
  });

  test('clock - timers set from a timer are relative to its time', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    c.after(5, () => {
      seen.push(c.now());
      c.after(7, () => seen.push(c.now()));
    });
    c.run();
    assert.deepEqual(seen, [5, 12]);
  });

  test('clock - a cancelled timer never fires', () => {
    const c = new VirtualClock();
    let fired = false;
    const cancel = c.after(10, () => {
      fired = true;
    });
    cancel();
    c.run();
    assert.equal(fired, false);
  });

  test('clock - negative delays fire now, not in the past', () => {
    const c = new VirtualClock();
    c.run(50);
    let at = -1;
    c.after(-20, () => {
      at = c.now();
    });
    c.run();
    assert.equal(at, 50);
  });

  test('clock - run(until) stops at that time and leaves later timers pending', () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    c.after(10, () => fired.push(10));
    c.after(20, () => fired.push(20));
    c.after(30, () => fired.push(30));
    c.run(20);
    assert.deepEqual(fired, [10, 20]);
    assert.equal(c.now(), 20);
    c.run(25);
    assert.equal(c.now(), 25);
    assert.deepEqual(fired, [10, 20]);
    c.run();
    assert.deepEqual(fired, [10, 20, 30]);
    assert.equal(c.now(), 30);
  });
});
