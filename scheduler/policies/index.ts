// Policy types → factories. Prefill and decode each get their own instance (own counters and rings).
import { boundedLoad, type as boundedLoadType } from './bounded-load.ts';
import { consistentHash, type as consistentHashType } from './consistent-hash.ts';
import { leastLoad, type as leastLoadType } from './least-load.ts';
import { llmd, type as llmdType } from './llmd.ts';
import { powerOfTwo, type as powerOfTwoType } from './power-of-two.ts';
import { random, type as randomType } from './random.ts';
import { roundRobin, type as roundRobinType } from './round-robin.ts';
import type { Policy } from './types.ts';

export const POLICY_FACTORIES = {
  [roundRobinType]: () => roundRobin(),
  [randomType]: () => random(),
  [powerOfTwoType]: () => powerOfTwo(),
  [consistentHashType]: () => consistentHash(),
  [boundedLoadType]: () => boundedLoad(),
  [llmdType]: () => llmd(),
  [leastLoadType]: () => leastLoad(),
} as const satisfies Record<string, () => Policy>;

export type PolicyType = keyof typeof POLICY_FACTORIES;
export const POLICY_TYPES = Object.keys(POLICY_FACTORIES) as PolicyType[];

export function isPolicyType(s: string): s is PolicyType {
  return Object.hasOwn(POLICY_FACTORIES, s);
}

export function createPolicy(t: PolicyType): Policy {
  return POLICY_FACTORIES[t]();
}
