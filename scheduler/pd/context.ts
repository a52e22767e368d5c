// What every step of one disaggregated request works with.
import type { RequestLog } from '../../runtime/lazy-log.ts';
import type { DispatchDeps } from '../dispatch-deps.ts';
import type { PreparedRequest } from '../request.ts';
import type { StreamWriter } from '../stream-writer.ts';

export interface PdContext {
  readonly d: DispatchDeps;
  readonly r: PreparedRequest;
  /** The client's body, parsed (a P/D request must be JSON: its legs are built from it). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly out: StreamWriter;
  /** With the request's id and model. */
  readonly log: RequestLog;
}
