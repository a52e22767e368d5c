// Why a first connection to NATS failed, and whether waiting can help: a server that is not up
// yet is waited for (processes may start before the bus), but a refused certificate or refused
// credentials is a configuration error that no retry fixes, so it stops the process with the reason
// instead of retrying in silence.
import { errors } from '@nats-io/transport-node';

export type ConnectVerdict = { readonly kind: 'retry'; readonly reason: string } | { readonly kind: 'refused'; readonly reason: string };

/** OpenSSL's certificate verification results, as Node reports them in `err.code`. */
const CERT_VERIFY = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function chain(err: unknown): { code?: string; message: string; error: unknown }[] {
  const out: { code?: string; message: string; error: unknown }[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
    out.push({ ...(code ? { code } : {}), message: e instanceof Error ? e.message : String(e), error: e });
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

export interface ConnectContext {
  /**
   * The attempt was TLS and nats.js gave up waiting for the server after the handshake. Under TLS
   * 1.3 a server that refuses the client's certificate does so after the client thinks the
   * handshake is done: the client learns it from the server's alert, or — when the server's close
   * wins the race, as it often does on a busy machine — only as a reset connection. A server
   * that is not up refuses the TCP connection instead; so here a reset means a refusal too.
   */
  readonly droppedAfterTls?: boolean;
}

const DROPPED = new Set(['ECONNRESET', 'EPIPE']);

export function classifyConnectError(err: unknown, ctx: ConnectContext = {}): ConnectVerdict {
  const links = chain(err);
  for (const { code, message, error } of links) {
    if (code && CERT_VERIFY.has(code)) {
      return { kind: 'refused', reason: `the server's TLS certificate is not accepted (${code}: ${message}); give the CA that signed it, and a server address the certificate names` };
    }
    if (code && /^ERR_(SSL|OSSL)_/.test(code)) {
      const alert = /alert/i.test(message) ? '; the server may require a client certificate signed by a CA it trusts' : '';
      return { kind: 'refused', reason: `the TLS handshake failed (${code}: ${message.split('\n')[0]?.trim()})${alert}` };
    }
    if (error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError) {
      return { kind: 'refused', reason: `the server refused the credentials (${message})` };
    }
    if (error instanceof errors.ConnectionError && /does not support 'tls'|tls.*not available/i.test(message)) {
      return { kind: 'refused', reason: 'TLS was asked for (a tls:// URL or a CA) but the server does not offer it' };
    }
  }
  const dropped = ctx.droppedAfterTls ? links.find((l) => l.code !== undefined && DROPPED.has(l.code)) : undefined;
  if (dropped) return { kind: 'refused', reason: `the TLS handshake failed: the server closed the connection (${dropped.code}); the server may require a client certificate signed by a CA it trusts` };
  const first = links[0];
  return { kind: 'retry', reason: first ? `${first.message}${links[1]?.code ? ` (${links[1].code})` : ''}` : 'unknown error' };
}
