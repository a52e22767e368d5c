// Which policy instance serves a request: per pool (whole, prefill, decode) and per model, each
// its own instance so that counters and rings never mix. `--policy` is the default; prefill and
// decode may have their own (`--prefill-policy`, `--decode-policy`), and any model may override.
import { createPolicy, type PolicyType } from './policies/index.ts';
import type { Policy } from './policies/types.ts';
import type { Pool } from './registry.ts';

export interface PolicyConfig {
  readonly policy: PolicyType;
  readonly prefillPolicy?: PolicyType | undefined;
  readonly decodePolicy?: PolicyType | undefined;
  /** model → policy type, for every pool of that model. */
  readonly modelPolicies?: Readonly<Record<string, PolicyType>>;
}

export class PolicySet {
  readonly #config: PolicyConfig;
  readonly #instances = new Map<string, Policy>();

  constructor(config: PolicyConfig) {
    this.#config = config;
  }

  typeFor(model: string, pool: Pool): PolicyType {
    const c = this.#config;
    // Own keys only: a client may name its model `constructor` or `toString`.
    const perModel = c.modelPolicies && Object.hasOwn(c.modelPolicies, model) ? c.modelPolicies[model] : undefined;
    if (perModel) return perModel;
    if (pool === 'prefill') return c.prefillPolicy ?? c.policy;
    if (pool === 'decode') return c.decodePolicy ?? c.policy;
    return c.policy;
  }

  get(model: string, pool: Pool): Policy {
    const t = this.typeFor(model, pool);
    // Instances are shared across models of the same type and pool; rings are kept per model inside.
    const key = `${pool}\u0000${t}`;
    let p = this.#instances.get(key);
    if (!p) {
      p = createPolicy(t);
      this.#instances.set(key, p);
    }
    return p;
  }
}
