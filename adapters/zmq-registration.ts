// Decodes the registrations vLLM's P2P-NCCL instances send to a discovery proxy: a msgpack map
// {type: "P"|"D", http_address: "ip:port", zmq_address: "ip:port"} in the last frame of a ZeroMQ
// message (vLLM's P2pNcclEngine sends it from a DEALER every 3 s, with no authentication of any
// kind). Defensive: anything else is rejected with a reason, never thrown, and unknown keys are
// ignored (newer connectors add some).
import { decode } from '@msgpack/msgpack';
import type { AllowList } from '../runtime/address-allow.ts';

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

/**
 * With an allow list, both addresses must be IP literals inside it: the HTTP address is where
 * users' prompts (and the worker API key) go and what the agent probes; the ZeroMQ address is
 * where prefill workers push KV. Returns what is wrong, or null.
 */
export function addressesRefusal(r: Registration, allow: AllowList | null): string | null {
  if (!allow) return null;
  if (!allow.allowsAddress(r.httpAddress)) return `http_address ${r.httpAddress} is not an IP inside the allow list`;
  if (!allow.allowsAddress(r.zmqAddress)) return `zmq_address ${r.zmqAddress} is not an IP inside the allow list`;
  return null;
}

export interface Instance extends Registration {
  readonly expiresAt: number;
}

/**
 * The proxy's bookkeeping: an instance lives `ttlMs` (vLLM's proxy: 5 s) after its last
 * registration. Keyed by HTTP address, as the proxy keys it. At most `maxInstances` live at once:
 * every one costs probes each interval and a heartbeat, so an unbounded registry is a lever for
 * whoever can register. Pure; time comes in.
 */
export class ZmqRegistry {
  readonly #ttlMs: number;
  readonly #maxInstances: number;
  readonly #instances = new Map<string, Instance>();

  constructor(ttlMs = 5000, maxInstances = Number.POSITIVE_INFINITY) {
    this.#ttlMs = ttlMs;
    this.#maxInstances = maxInstances;
  }

  get size(): number {
    return this.#instances.size;
  }

  get full(): boolean {
    return this.#instances.size >= this.#maxInstances;
  }

  /**
   * 'added' (new), 'changed' (type or ZeroMQ address changed), 'refreshed', or 'full': a new
   * instance past the cap, not recorded (known instances still refresh).
   */
  register(r: Registration, now: number): 'added' | 'changed' | 'refreshed' | 'full' {
    const prev = this.#instances.get(r.httpAddress);
    if (!prev && this.full) return 'full';
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
