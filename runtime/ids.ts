// Request and stream ids. ulid's plain `ulid()` draws 10 fresh random bytes from the OS per call
// (31 µs each here, two per request: a fifth of a core at 3,000 req/s). The monotonic factory
// draws once per millisecond and increments within it: ids stay unique, sortable by time, and
// unguessable across milliseconds, which is what reply subjects need.
//
// Even once per millisecond, ulid's default PRNG makes one `crypto.getRandomValues` call per
// character (16 per draw; 6 % of the ingress's CPU at 2,500 req/s in a profile), so the bytes come
// from a pool that the OS's CSPRNG refills 4 KiB at a time instead.
import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

const POOL = new Uint8Array(4096);
let next = POOL.length;

/** A uniform fraction in [0, 1) from one CSPRNG byte (ulid maps it onto 32 symbols: b >> 3). */
function pooledRandom(): number {
  if (next === POOL.length) {
    randomFillSync(POOL);
    next = 0;
  }
  return POOL[next++]! / 256;
}

export const newId: () => string = monotonicFactory(pooledRandom);
