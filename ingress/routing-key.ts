// The key sticky policies hash: `x-session-id`, then `x-user-id` headers, then the body's
// `session_id`, then `user`; else a hash of the start of the request (the system prompt and
// first turn, or the prompt's first 2 KiB), so that requests sharing a prefix share a key.
// Prefixes keep the kinds apart: a user named like a session never collides with it.
// The key travels in a NATS header, where a CR or LF would break the message: a value holding
// any control character (or a lone surrogate) is hashed instead (`session#<hash>`), so that it
// still routes the same way every time and never fails the request.
import { hash64Hex } from '../proto/hash.ts';

const MAX_KEY = 256;
const PREFIX_CHARS = 2048;

export type HeaderLookup = (name: string) => string | undefined;

const UNSAFE = /\p{Cc}/u;

/** `<kind>:<value>`, `<kind>#<hash of value>` for a value unsafe in a header, or null for no usable value. */
function keyOf(kind: string, v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  if (t.length === 0 || t.length > MAX_KEY) return null;
  return UNSAFE.test(t) || !t.isWellFormed() ? `${kind}#${hash64Hex(t)}` : `${kind}:${t}`;
}

export function routingKey(header: HeaderLookup, body: Readonly<Record<string, unknown>>): string {
  return keyOf('session', header('x-session-id')) ?? keyOf('user', header('x-user-id')) ?? keyOf('session', body.session_id) ?? keyOf('user', body.user) ?? `prefix:${hash64Hex(requestPrefix(body))}`;
}

/**
 * The first PREFIX_CHARS characters of what the model will read. For a chat, only the messages up
 * to and including the first user message (system prompt and first turn): later turns append to
 * a conversation, and must keep its key so that it stays on the worker holding its KV cache.
 */
export function requestPrefix(body: Readonly<Record<string, unknown>>): string {
  if (Array.isArray(body.messages)) {
    let s = '';
    for (const m of body.messages) {
      const o = m as { role?: unknown; content?: unknown } | null;
      const c = o?.content;
      s += typeof c === 'string' ? c : JSON.stringify(c ?? '');
      s += '\u0000';
      if (s.length >= PREFIX_CHARS || o?.role === 'user') break;
    }
    return s.slice(0, PREFIX_CHARS);
  }
  const p = body.prompt;
  if (typeof p === 'string') return p.slice(0, PREFIX_CHARS);
  return JSON.stringify(p ?? '').slice(0, PREFIX_CHARS);
}
