// What serving a request needs from the scheduler service: the fleet, the policies, the prefix
// index, the P/D options, what one call to a worker needs (CallDeps) and what the retry loop
// needs (RetryDeps).
import type { Logger } from 'pino';
import type { CallDeps } from './attempt.ts';
import type { CandidateCache } from './candidate-cache.ts';
import type { DispatchEvents } from './events.ts';
import type { PdConfig } from './pd/config.ts';
import type { PolicySet } from './policy-set.ts';
import type { PrefixIndex } from './prefix-index.ts';
import type { Registry } from './registry.ts';
import type { RetryDeps } from './retry-executor.ts';

export interface DispatchDeps extends CallDeps, RetryDeps {
  readonly events: DispatchEvents;
  readonly registry: Registry;
  /** The registry's lists as policies' candidates, kept between picks. */
  readonly candidates: CandidateCache;
  readonly policies: PolicySet;
  readonly prefix: PrefixIndex;
  readonly pd: PdConfig;
  readonly log: Logger;
  /** Seconds a client should wait before retrying when no worker is available. */
  readonly retryAfterS: number;
  /** Whether every worker of a model is saturated (shedder.ts); absent: never. */
  readonly saturated?: ((model: string) => boolean) | undefined;
}
