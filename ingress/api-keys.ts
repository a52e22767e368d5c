// Data-plane API keys: which bearer tokens may call /v1/*, each under an operator-chosen name.
// Keys live in memory only as SHA-256 digests, and a presented key is looked up by its own
// digest: the time a lookup takes depends on the digest, never on how much of a real key the
// guess shares (finding a key from its digest is a preimage attack), so neither memory dumps nor
// response timing give keys away, and the cost per request does not grow with the number of keys
// (comparing against every digest took 0.8 ms a request with 10,000 keys). The name, never the
// key, is what logs and metrics see.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isPriority, PRIORITY_RANGE } from '../proto/request-meta.ts';
import type { KeyLimits } from './rate-limiter.ts';

export interface ApiKeyEntry {
  readonly name: string;
  readonly digest: Buffer;
  /**
   * The most urgent `priority` this key's requests may ask for (lower is more urgent, as vLLM's
   * field). A request asking for more is served at this one. Default 0: without a grant, no
   * client can jump ahead of the default.
   */
  readonly bestPriority: number;
  /** Requests and tokens per minute across every ingress replica (rate-limiter.ts); null: no limit. */
  readonly limits: KeyLimits;
}

/** What a key line may say after the key, `attribute=value` separated by spaces. */
const ATTRIBUTES = ['priority', 'rpm', 'tpm'] as const;
type Attributes = { -readonly [K in (typeof ATTRIBUTES)[number]]?: number };

/** Names become log fields and metric labels: short, plain. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** What an HTTP header can carry as a bearer token without quoting. */
const KEY = /^[\x21-\x7e]+$/;
export const MIN_KEY_LENGTH = 16;

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * Parses a keys file: one key per line, `name:key` or a bare `key` (named `key-<line>`), then
 * optionally `priority=<int>` (the key's bestPriority), `rpm=<int>` and `tpm=<int>` (its limits); blank lines and `#` comments ignored. Throws an Error naming `source` and the line for anything
 * else, and when the file holds no key at all: a misread file must not leave the API open or shut.
 */
export function parseApiKeys(text: string, source: string): ApiKeyEntry[] {
  const out: ApiKeyEntry[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = `${source} line ${i + 1}`;
    const colon = line.indexOf(':');
    const name = colon < 0 ? `key-${i + 1}` : line.slice(0, colon).trim();
    const [key = '', ...attrs] = (colon < 0 ? line : line.slice(colon + 1)).trim().split(/\s+/);
    if (!NAME.test(name)) throw new Error(`${at}: a key's name is 1 to 64 letters, digits, _ . or -`);
    const granted = parseAttributes(attrs, at);
    if (!KEY.test(key)) throw new Error(`${at}: a key is printable ASCII without spaces`);
    if (key.length < MIN_KEY_LENGTH) throw new Error(`${at}: key "${name}" is shorter than ${MIN_KEY_LENGTH} characters`);
    if (names.has(name)) throw new Error(`${at}: the name "${name}" is used twice`);
    const d = digest(key);
    if (digests.has(d.toString('hex'))) throw new Error(`${at}: key "${name}" repeats an earlier key`);
    names.add(name);
    digests.add(d.toString('hex'));
    out.push({ name, digest: d, bestPriority: granted.priority ?? 0, limits: { rpm: granted.rpm ?? null, tpm: granted.tpm ?? null } });
  }
  if (out.length === 0) throw new Error(`${source} holds no API key (one per line: name:key)`);
  return out;
}

function parseAttributes(attrs: readonly string[], at: string): Attributes {
  const out: Attributes = {};
  for (const a of attrs) {
    const m = /^([a-z]+)=(-?\d+)$/.exec(a);
    // Never echo what was there: a key with a space in it would otherwise end up in a log.
    if (!m || !(ATTRIBUTES as readonly string[]).includes(m[1]!))
      throw new Error(`${at}: a key is printable ASCII without spaces, and only ${ATTRIBUTES.map((x) => `${x}=<integer>`).join(', ')} may follow it`);
    const name = m[1] as keyof Attributes;
    const v = Number(m[2]);
    if (name === 'priority' && !isPriority(v)) throw new Error(`${at}: priority must be from ${PRIORITY_RANGE.min} to ${PRIORITY_RANGE.max}`);
    if (name !== 'priority' && !(Number.isSafeInteger(v) && v >= 1)) throw new Error(`${at}: ${name} must be a whole number of at least 1`);
    out[name] = v;
  }
  return out;
}

/** The key in `Authorization: Bearer <key>` (scheme case-insensitive), or null. */
export function bearerToken(authorization: string | undefined): string | null {
  const m = /^bearer +(\S+) *$/i.exec(authorization ?? '');
  return m ? m[1]! : null;
}

export class ApiKeys {
  /** digest (base64) → entry */
  #byDigest: ReadonlyMap<string, ApiKeyEntry>;

  constructor(entries: readonly ApiKeyEntry[]) {
    this.#byDigest = index(entries);
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** Whether some key has a per-minute limit. */
  get hasLimits(): boolean {
    for (const e of this.#byDigest.values()) if (e.limits.rpm !== null || e.limits.tpm !== null) return true;
    return false;
  }

  /** Swaps in a new set (a reload); requests in flight keep the name they were admitted with. */
  replace(entries: readonly ApiKeyEntry[]): void {
    this.#byDigest = index(entries);
  }

  /** The name of the key presented, or null. */
  match(presented: string | null): string | null {
    return this.entry(presented)?.name ?? null;
  }

  /** The entry of the key presented, or null. */
  entry(presented: string | null): ApiKeyEntry | null {
    if (presented === null) return null;
    const d = digest(presented);
    const e = this.#byDigest.get(d.toString('base64'));
    return e !== undefined && timingSafeEqual(d, e.digest) ? e : null;
  }
}

function index(entries: readonly ApiKeyEntry[]): ReadonlyMap<string, ApiKeyEntry> {
  return new Map(entries.map((e) => [e.digest.toString('base64'), e]));
}
