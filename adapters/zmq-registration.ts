// Decodes the registrations vLLM's P2P-NCCL instances send to a discovery proxy: a msgpack map
// {type: "P"|"D", http_address: "ip:port", zmq_address: "ip:port"} in the last frame of a ZeroMQ
// message (research/vllm-protocol.md §2.2). Defensive: anything else is rejected with a reason,
// never thrown, and unknown keys are ignored (newer connectors add some).
import { decode } from '@msgpack/msgpack';

export interface Registration {
  readonly type: 'P' | 'D';
  readonly httpAddress: string;
  readonly zmqAddress: string;
}

const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

function validAddress(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const m = ADDRESS.exec(v);
  return m !== null && Number(m[2]) > 0 && Number(m[2]) < 65536;
}

export function decodeRegistration(payload: Uint8Array): { ok: true; value: Registration } | { ok: false; reason: string } {
  if (payload.length === 0 || payload.length > 64 * 1024) return { ok: false, reason: `payload of ${payload.length} bytes` };
  let v: unknown;
  try {
    v = decode(payload);
  } catch (e) {
    return { ok: false, reason: `not msgpack: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return { ok: false, reason: 'not a map' };
  const o = v as Record<string, unknown>;
  if (o.type !== 'P' && o.type !== 'D') return { ok: false, reason: `unknown type ${JSON.stringify(o.type)}` };
  if (!validAddress(o.http_address)) return { ok: false, reason: 'http_address is not host:port' };
  if (!validAddress(o.zmq_address)) return { ok: false, reason: 'zmq_address is not host:port' };
  return { ok: true, value: { type: o.type, httpAddress: o.http_address, zmqAddress: o.zmq_address } };
}

export interface Instance extends Registration {
  readonly expiresAt: number;
}

/**
 * The proxy's bookkeeping: an instance lives `ttlMs` (vLLM's proxy: 5 s) after its last
 * registration. Keyed by HTTP address, as the proxy keys it. Pure; time comes in.
 */
export class ZmqRegistry {
  readonly #ttlMs: number;
  readonly #instances = new Map<string, Instance>();

  constructor(ttlMs = 5000) {
    this.#ttlMs = ttlMs;
  }

  /** 'added' (new), 'changed' (type or ZeroMQ address changed) or 'refreshed'. */
  register(r: Registration, now: number): 'added' | 'changed' | 'refreshed' {
    const prev = this.#instances.get(r.httpAddress);
    this.#instances.set(r.httpAddress, { ...r, expiresAt: now + this.#ttlMs });
    if (!prev) return 'added';
    return prev.type !== r.type || prev.zmqAddress !== r.zmqAddress ? 'changed' : 'refreshed';
  }

  /** Instances whose registrations stopped; they are forgotten. */
  expire(now: number): Instance[] {
    const gone: Instance[] = [];
    for (const [k, i] of this.#instances) {
      if (i.expiresAt > now) continue;
      gone.push(i);
      this.#instances.delete(k);
    }
    return gone;
  }

  get(httpAddress: string): Instance | undefined {
    return this.#instances.get(httpAddress);
  }

  all(): Instance[] {
    return [...this.#instances.values()];
  }
}
