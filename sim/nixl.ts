// NIXL-style P/D between simulated workers (vLLM's NixlConnector; docs/ARCHITECTURE.md#driving-vllms-disaggregated-serving).
// Prefill side: a request with `kv_transfer_params.do_remote_decode` keeps its KV blocks after
// answering, under a lease (30 s by default); its response names the blocks, the engine and the
// side channel. Decode side: a request with `do_remote_prefill` pulls those blocks through the
// side channel (an HTTP call standing in for the NIXL handshake + RDMA read), which frees them on
// the prefill worker; a wrong, expired or unreachable lease is a failed transfer.
import { request } from 'undici';
import type { Clock } from './clock.ts';
import type { Engine, RemoteKvSource } from './engine.ts';
import { kvTransferMs } from './profiles.ts';

export const SIDE_CHANNEL_PATH = '/_sim/nixl/pull';

interface Lease {
  readonly blocks: readonly number[];
  readonly promptTokens: number;
  readonly cancelExpiry: () => void;
}

export interface PullRequest {
  readonly remote_engine_id: string;
  readonly remote_request_id: string;
  readonly remote_block_ids: readonly number[];
  readonly prompt_tokens: number;
  /** Leading prompt tokens the decode worker has in its own prefix cache: not read. */
  readonly local_tokens?: number;
}

export type PullResult = { ok: true; tokens: number } | { ok: false; reason: string };

/** Flattens `remote_block_ids`, which is a flat list in older vLLM and one list per KV-cache group in newer. */
export function flattenBlockIds(v: unknown): number[] | null {
  if (!Array.isArray(v)) return null;
  const out: number[] = [];
  for (const x of v) {
    if (Number.isInteger(x)) out.push(x as number);
    else if (Array.isArray(x) && x.every((y) => Number.isInteger(y))) out.push(...(x as number[]));
    else return null;
  }
  return out;
}

export interface NixlOptions {
  readonly engine: Engine;
  readonly clock: Clock;
  readonly engineId: string;
  /** The side channel's address (the worker's HTTP address; known once it listens). */
  readonly address: () => { readonly host: string; readonly port: number };
  readonly leaseMs: number;
}

/** The prefill side: leases over finished requests' blocks. */
export class NixlLeases {
  /** Failed KV reads by this worker as a decode side (the HTTP layer counts them). */
  failedTransfers = 0;
  expiredLeases = 0;
  readonly #o: NixlOptions;
  readonly #leases = new Map<string, Lease>();

  constructor(o: NixlOptions) {
    this.#o = o;
  }

  get active(): number {
    return this.#leases.size;
  }

  /** Whether KV is held for `requestId` (a new request must not reuse the id: its lease would be lost). */
  holds(requestId: string): boolean {
    return this.#leases.has(requestId);
  }

  /** Holds `blocks` for `requestId` and returns the kv_transfer_params a decode worker needs. */
  hold(requestId: string, blocks: readonly number[], promptTokens: number): Record<string, unknown> {
    const cancelExpiry = this.#o.clock.after(this.#o.leaseMs, () => {
      if (this.#leases.get(requestId)?.blocks !== blocks) return;
      this.#leases.delete(requestId);
      this.expiredLeases++;
      this.#o.engine.releaseBlocks(blocks);
    });
    this.#leases.set(requestId, { blocks, promptTokens, cancelExpiry });
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_engine_id: this.#o.engineId,
      remote_block_ids: [[...blocks]],
      remote_request_id: requestId,
      remote_host: this.#o.address().host,
      remote_port: this.#o.address().port,
      tp_size: this.#o.engine.profile.tpSize,
    };
  }

  /** Side-channel handler: a decode worker reads the blocks; they are freed once the read is done. */
  async pull(p: PullRequest): Promise<PullResult> {
    if (p.remote_engine_id !== this.#o.engineId) return this.#fail(`unknown engine ${p.remote_engine_id}`);
    const lease = this.#leases.get(p.remote_request_id);
    if (!lease) return this.#fail(`no KV held for request ${p.remote_request_id} (never prefilled here, already read, or expired)`);
    if (lease.blocks.length !== p.remote_block_ids.length || lease.blocks.some((b, i) => b !== p.remote_block_ids[i])) return this.#fail('block ids do not match the ones held for this request');
    if (lease.promptTokens !== p.prompt_tokens) return this.#fail(`prompt has ${p.prompt_tokens} tokens, the KV held covers ${lease.promptTokens}`);
    const local = p.local_tokens ?? 0;
    if (local > lease.promptTokens) return this.#fail(`${local} tokens cached locally, more than the prompt's ${lease.promptTokens}`);
    this.#leases.delete(p.remote_request_id);
    lease.cancelExpiry();
    const tokens = lease.promptTokens - local;
    await new Promise<void>((r) => this.#o.clock.after(kvTransferMs(this.#o.engine.profile, tokens), r));
    this.#o.engine.releaseBlocks(lease.blocks);
    return { ok: true, tokens };
  }

  /** Drops every lease (the worker crashed: its GPU memory is gone). */
  clear(): void {
    for (const l of this.#leases.values()) l.cancelExpiry();
    this.#leases.clear();
  }

  /**
   * A refused read. Not counted here: vLLM counts `nixl_num_failed_transfers` on the worker that
   * reads (the decode side, through {@link remoteKvSource}'s `onFailed`); counting on both sides
   * would report every failure twice across a fleet.
   */
  #fail(reason: string): PullResult {
    return { ok: false, reason };
  }
}

export type RemoteParamsCheck = { ok: true; source: (onFailure: 'recompute' | 'fail', onFailed: () => void) => RemoteKvSource } | { ok: false; reason: string };

/** The decode side: turns the `kv_transfer_params` a prefill worker returned into a KV source. */
export function remoteKvSource(params: Readonly<Record<string, unknown>>, fallbackRequestId: string): RemoteParamsCheck {
  const host = params.remote_host;
  const port = params.remote_port;
  const engineId = params.remote_engine_id;
  const blockIds = flattenBlockIds(params.remote_block_ids);
  const requestId = typeof params.remote_request_id === 'string' ? params.remote_request_id : fallbackRequestId;
  if (typeof host !== 'string' || !Number.isInteger(port) || typeof engineId !== 'string' || !blockIds)
    return { ok: false, reason: 'kv_transfer_params lacks remote_host, remote_port, remote_engine_id or remote_block_ids' };
  return {
    ok: true,
    source: (onFailure, onFailed) => ({
      onFailure,
      async load(_blocks, promptTokens, localTokens) {
        const body: PullRequest = { remote_engine_id: engineId, remote_request_id: requestId, remote_block_ids: blockIds, prompt_tokens: promptTokens, local_tokens: localTokens };
        try {
          const res = await request(`http://${host.includes(':') ? `[${host}]` : host}:${port as number}${SIDE_CHANNEL_PATH}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            headersTimeout: 30_000,
            bodyTimeout: 30_000,
          });
          const r = (await res.body.json()) as PullResult;
          if (res.statusCode === 200 && r.ok) return true;
        } catch {
          // unreachable prefill worker: a failed transfer like any other
        }
        onFailed();
        return false;
      },
    }),
  };
}
