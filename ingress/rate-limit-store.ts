// The shared counters of the per-key rate limits (rate-limiter.ts): one JetStream KV entry per
// key, kind and minute, in bucket LLM_RATELIMIT (in memory, entries kept 3 minutes: a minute's
// counter is never read after the next). A lease is a read and a compare-and-set: two replicas
// leasing at once cannot both take the same units, the loser reads again.
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LeaseStore } from './rate-limiter.ts';

export const RATE_LIMIT_BUCKET = 'LLM_RATELIMIT';
const CAS_ATTEMPTS = 8;

export class KvLeaseStore implements LeaseStore {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens the bucket, creating it when it does not exist yet (the first replica to start does). */
  static async open(nc: NatsConnection): Promise<KvLeaseStore> {
    const kv = await new Kvm(nc).create(RATE_LIMIT_BUCKET, { history: 1, ttl: 180_000, storage: 'memory' });
    return new KvLeaseStore(kv);
  }

  async lease(key: string, want: number, limit: number): Promise<{ granted: number; used: number }> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const e = await this.#kv.get(key);
      const used = e && e.operation === 'PUT' ? Number(e.string()) || 0 : 0;
      const granted = Math.max(0, Math.min(want, limit - used));
      if (granted === 0) return { granted, used };
      try {
        if (e) await this.#kv.update(key, String(used + granted), e.revision);
        else await this.#kv.create(key, String(granted));
        return { granted, used: used + granted };
      } catch (err) {
        // Another replica moved the counter first: read it again.
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`rate-limit counter ${key}: ${CAS_ATTEMPTS} replicas raced for it in a row`);
  }
}

function isWrongLastSequence(e: unknown): boolean {
  const m = e instanceof Error ? `${e.message} ${String((e as { api_error?: { err_code?: number } }).api_error?.err_code ?? '')}` : '';
  return /wrong last sequence|10071|key exists|10164/.test(m);
}
