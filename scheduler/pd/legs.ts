// The two legs of a disaggregated request, as vLLM's own P/D proxies build them
// (docs/ARCHITECTURE.md#driving-vllms-disaggregated-serving). Pure: a parsed body in, bodies and ids out.

export type Connector = 'nixl' | 'p2p-nccl';

/** What the prefill leg asks a NIXL prefill worker for: keep the KV for a remote decode. */
export const NIXL_PREFILL_PARAMS = Object.freeze({
  do_remote_decode: true,
  do_remote_prefill: false,
  remote_engine_id: null,
  remote_block_ids: null,
  remote_host: null,
  remote_port: null,
});

/**
 * The prefill leg: the client's body computing one token and answering as JSON. NIXL also asks
 * the worker to hold the KV for a decode worker. `min_tokens` cannot be honoured by a one-token
 * leg, so it is capped at 1 (the decode leg gets the original back).
 */
export function prefillBody(original: Readonly<Record<string, unknown>>, connector: Connector): Record<string, unknown> {
  const b: Record<string, unknown> = { ...original, stream: false, max_tokens: 1 };
  delete b.stream_options;
  if ('max_completion_tokens' in b) b.max_completion_tokens = 1;
  if (typeof b.min_tokens === 'number' && b.min_tokens > 1) b.min_tokens = 1;
  if ('min_completion_tokens' in b) b.min_completion_tokens = 1;
  if (connector === 'nixl') b.kv_transfer_params = { ...NIXL_PREFILL_PARAMS };
  else delete b.kv_transfer_params;
  return b;
}

/** The decode leg: the client's own body, plus (NIXL) the prefill worker's `kv_transfer_params`, verbatim. */
export function decodeBody(original: Readonly<Record<string, unknown>>, kvTransferParams: unknown): Record<string, unknown> {
  if (kvTransferParams === undefined) return { ...original };
  return { ...original, kv_transfer_params: kvTransferParams };
}

/**
 * P2P-NCCL: both peers' ZeroMQ addresses in the request id, in the exact form vLLM's connector
 * parses (`___prefill_addr_(.*):(\d+)___` on decode, `___decode_addr_(.*):(\d+)` on prefill).
 */
export function p2pRequestId(prefillZmq: string, decodeZmq: string, uuidHex: string): string {
  return `___prefill_addr_${prefillZmq}___decode_addr_${decodeZmq}_${uuidHex}`;
}

/** The prefill worker's answer: its `kv_transfer_params` and what it said about the prompt. */
export interface PrefillResult {
  readonly kvTransferParams: unknown;
  readonly promptTokens: number | null;
  readonly cachedTokens: number | null;
}

export function readPrefillResponse(body: unknown): PrefillResult {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const usage = (typeof o.usage === 'object' && o.usage !== null ? o.usage : {}) as Record<string, unknown>;
  const details = (typeof usage.prompt_tokens_details === 'object' && usage.prompt_tokens_details !== null ? usage.prompt_tokens_details : {}) as Record<string, unknown>;
  return {
    kvTransferParams: o.kv_transfer_params ?? undefined,
    promptTokens: Number.isInteger(usage.prompt_tokens) ? (usage.prompt_tokens as number) : null,
    cachedTokens: Number.isInteger(details.cached_tokens) ? (details.cached_tokens as number) : null,
  };
}
