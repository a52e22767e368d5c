// What the `x-router-worker` response header tells a client about who answered. Worker ids are
// derived from their URLs (`10-0-0-5-8000`), so the id itself maps the private network; by
// default the client gets an opaque, stable name instead: a keyed hash of each id, which lets an
// operator correlate answers within one key's life without showing addresses.
import { createHmac } from 'node:crypto';

export const WORKER_HEADER_MODES = ['opaque', 'id', 'none'] as const;
export type WorkerHeaderMode = (typeof WORKER_HEADER_MODES)[number];

const OPAQUE_HEX = 12;

/** HMAC-SHA256 of one worker id under `key`, first 12 hex characters. */
export function opaqueWorkerId(key: string | Buffer, id: string): string {
  return createHmac('sha256', key).update(id).digest('hex').slice(0, OPAQUE_HEX);
}

/**
 * The header's value for a scheduler's `Llm-Worker` value (one id, or `prefill,decode`), or null
 * for no header. A P/D pair stays a pair: each id is hashed on its own.
 */
export function workerHeaderValue(mode: WorkerHeaderMode, key: string | Buffer): (worker: string) => string | null {
  switch (mode) {
    case 'none':
      return () => null;
    case 'id':
      return (worker) => worker || null;
    case 'opaque': {
      // An HMAC per answer was 4 % of the ingress's CPU at 300 requests/s; the fleet's ids are
      // few, so each is hashed once (a bounded cache: a fleet past it just hashes again).
      const cache = new Map<string, string>();
      return (worker) => {
        if (!worker) return null;
        let v = cache.get(worker);
        if (v === undefined) {
          v = worker
            .split(',')
            .map((id) => opaqueWorkerId(key, id))
            .join(',');
          if (cache.size >= 10_000) cache.clear();
          cache.set(worker, v);
        }
        return v;
      };
    }
  }
}
