// Serves one accepted request: whole in a fleet of `both` workers (whole.ts), disaggregated in a
// P/D fleet, one with prefill or decode roles (pd/orchestrate.ts). Both run their attempts
// through the one retry loop (retry-executor.ts).
import type { DispatchDeps } from './dispatch-deps.ts';
import { dispatchPd } from './pd/orchestrate.ts';
import { prepare, type DispatchRequest } from './request.ts';
import type { DispatchOutcome } from './retry-executor.ts';
import type { StreamWriter } from './stream-writer.ts';
import { dispatchWhole } from './whole.ts';

export async function dispatch(d: DispatchDeps, r: DispatchRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const req = prepare(d.prefix, r);
  if (d.registry.hasDisaggregatedRoles(r.model)) return dispatchPd(d, req, out);
  return dispatchWhole(d, req, out);
}
