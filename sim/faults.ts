// Fault injection for a simulated worker: set per worker at run time (POST /_sim/faults) or per
// request with the `x-sim-fault` header. Each fault is something a real fleet does to a router:
// error bursts, slowness, hung connections, streams cut mid-way, crashes, slow starts.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export const FaultPatchSchema = Type.Object(
  {
    /** Fraction (0–1) of generation requests answered with `errorStatus`. */
    errorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    errorStatus: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
    /** Added before a generation request is processed. */
    latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
    /** Accept generation requests and never answer. */
    hang: Type.Optional(Type.Boolean()),
    /** Cut the connection after this many tokens (null: never). */
    dieAfterTokens: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
    /** Engine dead: /health answers 503 and generation fails with 500. */
    dead: Type.Optional(Type.Boolean()),
    /** From now on, /health answers 503 (and generation 503) for this long, as a loading model would. */
    slowStartMs: Type.Optional(Type.Number({ minimum: 0 })),
    /** Stop listening now (connections dropped); with crashForMs, come back after that long with a cold cache. */
    crash: Type.Optional(Type.Boolean()),
    crashForMs: Type.Optional(Type.Number({ minimum: 0 })),
    /** Clear every fault first. */
    reset: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type FaultPatch = Static<typeof FaultPatchSchema>;
export const checkFaultPatch = TypeCompiler.Compile(FaultPatchSchema);

export interface FaultState {
  errorRate: number;
  errorStatus: number;
  latencyMs: number;
  hang: boolean;
  dieAfterTokens: number | null;
  dead: boolean;
  slowStartUntil: number;
}

export const NO_FAULTS: Readonly<FaultState> = Object.freeze({
  errorRate: 0,
  errorStatus: 500,
  latencyMs: 0,
  hang: false,
  dieAfterTokens: null,
  dead: false,
  slowStartUntil: 0,
});

export function applyPatch(state: FaultState, p: FaultPatch, now: number): FaultState {
  const s = p.reset ? { ...NO_FAULTS } : { ...state };
  if (p.errorRate !== undefined) s.errorRate = p.errorRate;
  if (p.errorStatus !== undefined) s.errorStatus = p.errorStatus;
  if (p.latencyMs !== undefined) s.latencyMs = p.latencyMs;
  if (p.hang !== undefined) s.hang = p.hang;
  if (p.dieAfterTokens !== undefined) s.dieAfterTokens = p.dieAfterTokens;
  if (p.dead !== undefined) s.dead = p.dead;
  if (p.slowStartMs !== undefined) s.slowStartUntil = now + p.slowStartMs;
  return s;
}

/** What one request will suffer, from the worker's faults and its own header. */
export interface RequestFaults {
  readonly errorStatus: number | null;
  readonly latencyMs: number;
  readonly hang: boolean;
  readonly dieAfterTokens: number | null;
}

/**
 * `x-sim-fault: error=503, latency=200, hang, die-after=3` (any subset). Unknown directives are
 * an error so that a typo in a test does not silently test nothing.
 */
export function parseFaultHeader(value: string | undefined): { ok: true; value: Partial<RequestFaults> } | { ok: false; message: string } {
  const out: { -readonly [K in keyof RequestFaults]?: RequestFaults[K] } = {};
  if (!value) return { ok: true, value: out };
  for (const raw of value.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    // Split at the first "=" only: "error=503=x" must be junk, not error=503 (String.split's limit drops the rest).
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const arg = eq < 0 ? undefined : part.slice(eq + 1).trim();
    // An empty argument is junk, not 0 (Number('') is 0).
    const num = arg === undefined || arg === '' ? Number.NaN : Number(arg);
    if (key === 'hang' && arg === undefined) out.hang = true;
    else if (key === 'error' && Number.isInteger(num) && num >= 400 && num <= 599) out.errorStatus = num;
    else if (key === 'latency' && Number.isFinite(num) && num >= 0) out.latencyMs = num;
    else if (key === 'die-after' && Number.isInteger(num) && num >= 0) out.dieAfterTokens = num;
    else return { ok: false, message: `x-sim-fault: cannot understand "${part}"` };
  }
  return { ok: true, value: out };
}

export function requestFaults(state: FaultState, header: Partial<RequestFaults>, random: () => number): RequestFaults {
  const injected = state.errorRate > 0 && random() < state.errorRate ? state.errorStatus : null;
  return {
    errorStatus: header.errorStatus ?? injected,
    latencyMs: (header.latencyMs ?? 0) + state.latencyMs,
    hang: header.hang ?? state.hang,
    dieAfterTokens: header.dieAfterTokens ?? state.dieAfterTokens,
  };
}
