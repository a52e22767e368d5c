// Body fields that only the router may set on a worker request. `kv_transfer_params` tells a vLLM
// worker where to pull or push KV (a client's `remote_host` would make GPU hosts connect where it
// says); `request_id` names the engine request. Clients' values are removed before the body goes
// on the bus; the scheduler sets its own where the protocol needs them.
export const ROUTER_OWNED_FIELDS = ['kv_transfer_params', 'request_id'] as const;

/**
 * Removes router-owned fields from a parsed body, in place; returns what was removed (empty: the
 * body is untouched and its bytes may travel as they came). vLLM also reads `kv_transfer_params`
 * from `vllm_xargs`, so it goes from there too.
 */
export function stripRouterOwned(body: Record<string, unknown>): string[] {
  const removed: string[] = [];
  for (const f of ROUTER_OWNED_FIELDS) {
    if (Object.hasOwn(body, f)) {
      delete body[f];
      removed.push(f);
    }
  }
  const x = body.vllm_xargs;
  if (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.hasOwn(x, 'kv_transfer_params')) {
    delete (x as Record<string, unknown>).kv_transfer_params;
    removed.push('vllm_xargs.kv_transfer_params');
  }
  return removed;
}
