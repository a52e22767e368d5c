// ZeroMQ's authentication hook (ZAP, RFC 27) for the discovery ROUTER: libzmq asks the REP socket
// bound to inproc://zeromq.zap.01 in the socket's context about every new connection, before a
// single message of it is delivered, giving the peer's IP address and, under CURVE, its public
// key. A refusal ends the handshake, so a refused peer never reaches the registry. The decision
// is pure (zapVerdict); ZapHandler is the socket around it.
import { Reply, type Context } from 'zeromq';
import type { AllowList } from '../runtime/address-allow.ts';
import { z85Encode } from './z85.ts';

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

export interface ZapPolicy {
  /** Peers must connect from inside it; null: from anywhere. */
  readonly allow: AllowList | null;
  /** CURVE public key (Z85) → name; null: CURVE is off and peers use the NULL mechanism. */
  readonly curveClients: ReadonlyMap<string, string> | null;
}

export interface ZapRequest {
  readonly requestId: Buffer;
  /** The peer's IP address as libzmq saw it (`10.0.0.5`, `::1`, `::ffff:10.0.0.5`). */
  readonly address: string;
  readonly mechanism: string;
  /** The client's long-term public key under CURVE, in Z85. */
  readonly clientKey: string | null;
}

export type ZapRefusal = 'source' | 'curve-key' | 'mechanism';
export type ZapVerdict = { ok: true; user: string } | { ok: false; reason: ZapRefusal; detail: string };

/** null when the frames are not a ZAP 1.0 request. */
export function parseZapRequest(frames: readonly Buffer[]): ZapRequest | null {
  if (frames.length < 6 || frames[0]!.toString() !== '1.0') return null;
  const mechanism = frames[5]!.toString();
  const key = mechanism === 'CURVE' ? frames[6] : undefined;
  return {
    requestId: frames[1]!,
    address: frames[3]!.toString(),
    mechanism,
    clientKey: key && key.length === 32 ? z85Encode(key) : null,
  };
}

export function zapVerdict(r: ZapRequest, policy: ZapPolicy): ZapVerdict {
  if (policy.allow && !policy.allow.allowsIp(r.address)) return { ok: false, reason: 'source', detail: `${r.address} is outside the allow list` };
  if (!policy.curveClients) return { ok: true, user: r.address };
  if (r.mechanism !== 'CURVE') return { ok: false, reason: 'mechanism', detail: `${r.mechanism} where CURVE is required` };
  const name = r.clientKey === null ? undefined : policy.curveClients.get(r.clientKey);
  if (name === undefined) return { ok: false, reason: 'curve-key', detail: `client key ${r.clientKey ?? '(none)'} is not allowed` };
  return { ok: true, user: name };
}

export type ZapListener = (request: ZapRequest | null, verdict: ZapVerdict) => void;

export class ZapHandler {
  readonly #socket: Reply;
  readonly #policy: ZapPolicy;
  readonly #listener: ZapListener;
  readonly #onFailure: (e: Error) => void;
  #closed = false;

  /**
   * `context` must be the ROUTER's: a context has one ZAP endpoint, its sockets share it.
   * `onFailure` hears of a handler that stopped on its own (the ROUTER then refuses everyone).
   */
  constructor(context: Context, policy: ZapPolicy, listener: ZapListener, onFailure: (e: Error) => void) {
    this.#socket = new Reply({ context, linger: 0 });
    this.#policy = policy;
    this.#listener = listener;
    this.#onFailure = onFailure;
  }

  /** Binds before the ROUTER does, so that no connection is ever let in unasked. */
  async start(): Promise<void> {
    await this.#socket.bind(ZAP_ENDPOINT);
    void this.#serve();
  }

  stop(): void {
    this.#closed = true;
    this.#socket.close();
  }

  async #serve(): Promise<void> {
    try {
      for await (const frames of this.#socket) {
        const request = parseZapRequest(frames);
        const verdict: ZapVerdict = request ? zapVerdict(request, this.#policy) : { ok: false, reason: 'mechanism', detail: 'not a ZAP 1.0 request' };
        // A REP socket must answer every request, or every later handshake waits forever.
        const [code, text, user] = verdict.ok ? ['200', 'OK', verdict.user] : [request ? '400' : '500', verdict.reason, ''];
        await this.#socket.send(['1.0', request?.requestId ?? frames[1] ?? '', code, text, user, '']);
        this.#listener(request, verdict);
      }
    } catch (e) {
      if (!this.#closed) this.#onFailure(e as Error);
    }
  }
}
