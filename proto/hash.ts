// Hashing shared by the ingress (routing keys) and the scheduler (hash rings): XXH64, loaded
// once per process (a small WASM module).
import xxhash from 'xxhash-wasm';

const api = await xxhash();

/** 64-bit hash of a string. */
export function hash64(s: string, seed = 0n): bigint {
  return api.h64(s, seed);
}

/** The same as 16 hex digits (for keys that travel as text). */
export function hash64Hex(s: string): string {
  return api.h64ToString(s);
}
