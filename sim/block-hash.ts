// Hashes for the simulator, from one XXH64/XXH32 instance per process (the WASM module is tiny):
// prefix-cache block hashes chain each full block's token ids onto its parent's hash, as vLLM
// chains block hashes so that a block is only reused after an identical prefix.
import xxhash from 'xxhash-wasm';

const { h64Raw, h32 } = await xxhash();

/** The hashes of every full block of `tokens`, in order; `salt` isolates caches (vLLM's `cache_salt`). */
export function blockHashes(tokens: readonly number[], blockSize: number, salt = 0n): bigint[] {
  const full = Math.floor(tokens.length / blockSize);
  const out: bigint[] = new Array(full);
  const buf = new Float64Array(blockSize);
  const bytes = new Uint8Array(buf.buffer);
  let parent = salt;
  for (let b = 0; b < full; b++) {
    for (let i = 0; i < blockSize; i++) buf[i] = tokens[b * blockSize + i] ?? 0;
    parent = h64Raw(bytes, parent);
    out[b] = parent;
  }
  return out;
}

/** A 32-bit seed from a string (output text and natural length derive from it). */
export function seedOf(text: string): number {
  return h32(text);
}

/** A 64-bit salt from vLLM's `cache_salt` string. */
export function saltOf(text: string): bigint {
  return BigInt(h32(text)) * 0x1_0000_0001n + 1n;
}
