// One simulated vLLM worker: the HTTP surface of `vllm serve` (its OpenAI-compatible server) in
// front of a simulated engine, plus the simulator's own admin routes under /_sim/.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { realClock, type Clock } from './clock.ts';
import { Engine } from './engine.ts';
import { applyPatch, checkFaultPatch, NO_FAULTS, type FaultState } from './faults.ts';
import { detokenizeBody, handleGeneration, tokenizeBody, type GenerationContext, type KvConnector } from './generate.ts';
import { parseJson, readBody, sendEmpty, sendJson } from './http-util.ts';
import { WorkerMetrics } from './metrics.ts';
import { NixlLeases, SIDE_CHANNEL_PATH, flattenBlockIds } from './nixl.ts';
import { P2pNccl } from './p2p-nccl.ts';
import type { SchedulingPolicy } from './openai-request.ts';
import type { Profile } from './profiles.ts';
import { badRequest } from './vllm-errors.ts';

export const SIM_VLLM_VERSION = '0.11.0+sim';

export type WorkerRole = 'both' | 'prefill' | 'decode';

export interface SimWorkerOptions {
  readonly host: string;
  /** 0 picks a free port (tests); {@link SimWorker.port} tells which. */
  readonly port: number;
  readonly profile: Profile;
  /** Served model names; the first is the one metrics are labelled with. */
  readonly models: readonly string[];
  readonly role: WorkerRole;
  readonly kvConnector: KvConnector;
  readonly kvLoadFailurePolicy: 'recompute' | 'fail';
  readonly kvLeaseMs: number;
  readonly numGpuBlocks?: number;
  readonly maxNumSeqs?: number;
  readonly maxNumBatchedTokens?: number;
  /** vLLM's --scheduling-policy (default fcfs: a request with a priority other than 0 is a 400). */
  readonly schedulingPolicy?: SchedulingPolicy;
  /** Natural answer length (EOS) range, in tokens, for requests without ignore_eos. */
  readonly outputLength: { readonly min: number; readonly max: number };
  /** P2P-NCCL: this worker's ZeroMQ (KV) port and the discovery proxy. */
  readonly p2p?: { readonly kvPort: number; readonly proxy: string | null; readonly kvWaitMs: number };
  readonly clock?: Clock;
  readonly random?: () => number;
  /** vLLM's --api-key: every /v1 route wants `Authorization: Bearer <key>` (else 401). */
  readonly apiKey?: string | undefined;
}

export class SimWorker {
  readonly options: SimWorkerOptions;
  readonly clock: Clock;
  engine!: Engine;
  metrics!: WorkerMetrics;
  nixl!: NixlLeases;
  p2p: P2pNccl | null = null;
  engineId = '';
  faults: FaultState = { ...NO_FAULTS };
  port: number;
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  #open = new Set<ServerResponse>();
  #restartTimer: (() => void) | null = null;
  #startedAt = 0;

  constructor(options: SimWorkerOptions) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.port = options.port;
    this.#fresh();
  }

  get url(): string {
    return `http://${this.options.host}:${this.port}`;
  }

  get listening(): boolean {
    return this.#server?.listening === true;
  }

  /** A new engine, as a restarted vLLM has: empty KV cache, new engine id, zeroed metrics. */
  #fresh(): void {
    const o = this.options;
    this.engine = new Engine({
      profile: o.profile,
      clock: this.clock,
      ...(o.numGpuBlocks !== undefined ? { numGpuBlocks: o.numGpuBlocks } : {}),
      ...(o.maxNumSeqs !== undefined ? { maxNumSeqs: o.maxNumSeqs } : {}),
      ...(o.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: o.maxNumBatchedTokens } : {}),
      schedulingPolicy: o.schedulingPolicy ?? 'fcfs',
    });
    this.engineId = randomUUID();
    this.nixl = new NixlLeases({ engine: this.engine, clock: this.clock, engineId: this.engineId, address: () => ({ host: o.host, port: this.port }), leaseMs: o.kvLeaseMs });
    // NIXL's counters only: vLLM's P2P-NCCL connector exports no failed-transfer metric.
    const nixl = (): { failedTransfers: number; expiredLeases: number } => ({
      failedTransfers: this.nixl.failedTransfers,
      expiredLeases: this.nixl.expiredLeases,
    });
    this.metrics = new WorkerMetrics({ engine: this.engine, modelName: o.models[0]!, maxModelLen: o.profile.maxModelLen, nixl });
    // A restart keeps the ZeroMQ port the first start bound (as it keeps its HTTP port): the
    // address is in its registrations and in the request ids its peers build.
    const kvPort = this.p2p?.boundPort ?? o.p2p?.kvPort ?? 0;
    this.p2p =
      o.kvConnector === 'p2p-nccl' && o.p2p
        ? new P2pNccl({ engine: this.engine, clock: this.clock, role: o.role, host: o.host, httpPort: () => this.port, kvPort, proxy: o.p2p.proxy, kvWaitMs: o.p2p.kvWaitMs })
        : null;
  }

  #context(): GenerationContext {
    return {
      engine: this.engine,
      clock: this.clock,
      servedModels: this.options.models,
      maxModelLen: this.options.profile.maxModelLen,
      metrics: this.metrics,
      faults: () => this.faults,
      random: this.options.random ?? Math.random,
      connector: this.options.kvConnector,
      kvLoadFailurePolicy: this.options.kvLoadFailurePolicy,
      nixl: this.nixl,
      p2p: this.p2p,
      outputLength: this.options.outputLength,
      schedulingPolicy: this.options.schedulingPolicy ?? 'fcfs',
      open: this.#open,
    };
  }

  /** Bumped by each stop and crash: a start that finds it moved on was stopped meanwhile. */
  #generation = 0;

  async start(): Promise<void> {
    if (this.#server) return;
    const generation = this.#generation;
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      this.#route(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: 'InternalServerError', param: null, code: 500 } });
        else res.destroy();
      });
    });
    server.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A restart after a crash comes back on the same port.
      server.listen(this.port, this.options.host, () => {
        server.off('error', reject);
        const addr = server.address();
        if (addr && typeof addr === 'object') this.port = addr.port;
        resolve();
      });
    });
    // Stopped while it bound its port (a test ending as the worker restarts): close what opened.
    if (generation !== this.#generation) {
      server.close();
      return;
    }
    this.#server = server;
    this.#startedAt = this.clock.now();
    await this.p2p?.start();
  }

  /** Stops listening and drops every connection (a crash, or the end of a test). */
  async stop(): Promise<void> {
    this.#generation++;
    this.#restartTimer?.();
    this.#restartTimer = null;
    await this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    this.p2p?.stop();
    this.nixl.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Crash: stop listening at once; with `forMs`, come back after that long as a fresh engine. */
  async crash(forMs?: number): Promise<void> {
    this.#generation++;
    await this.#shutdown();
    this.#fresh();
    this.faults = { ...NO_FAULTS };
    if (forMs !== undefined) {
      this.#restartTimer = this.clock.after(forMs, () => {
        this.#restartTimer = null;
        this.start().catch(() => undefined);
      });
    }
  }

  #healthy(): boolean {
    return !this.faults.dead && this.faults.slowStartUntil <= this.clock.now();
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const method = req.method ?? 'GET';
    const route = ROUTES[path];
    if (!route) return sendJson(res, 404, { detail: 'Not Found' });
    if (!route.includes(method)) return sendJson(res, 405, { detail: 'Method Not Allowed' });
    // As vLLM's authentication middleware: /v1 routes only, the bearer token compared whole.
    if (this.options.apiKey !== undefined && path.startsWith('/v1') && !bearerMatches(req.headers.authorization, this.options.apiKey)) return sendJson(res, 401, { error: 'Unauthorized' });
    switch (path) {
      case '/health':
      case '/ping':
        return sendEmpty(res, this.#healthy() ? 200 : 503);
      case '/version':
        return sendJson(res, 200, { version: SIM_VLLM_VERSION });
      case '/load':
        return sendJson(res, 200, { server_load: this.#open.size });
      case '/metrics': {
        const text = await this.metrics.text();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case '/v1/models':
        return sendJson(res, 200, this.#models());
      case '/v1/completions':
        return handleGeneration(this.#context(), 'completion', req, res);
      case '/v1/chat/completions':
        return handleGeneration(this.#context(), 'chat', req, res);
      case '/tokenize':
      case '/detokenize': {
        const body = parseJson(await readBody(req, 16 * 1024 * 1024));
        if (!body.ok) return sendJson(res, 400, badRequest(body.message).body);
        const r = path === '/tokenize' ? tokenizeBody(body.value, this.options.profile.maxModelLen) : detokenizeBody(body.value);
        return sendJson(res, r.status, r.body);
      }
      case '/reset_prefix_cache':
        this.engine.pool.resetPrefixCache();
        return sendEmpty(res, 200);
      case SIDE_CHANNEL_PATH:
        return this.#sideChannel(req, res);
      case '/_sim/faults':
        return this.#faultsRoute(req, res, method);
      case '/_sim/state':
        return sendJson(res, 200, this.state());
    }
  }

  #models(): unknown {
    const created = Math.floor(Date.now() / 1000);
    const root = this.options.models[0]!;
    return {
      object: 'list',
      data: this.options.models.map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root,
        parent: null,
        max_model_len: this.options.profile.maxModelLen,
        permission: [
          {
            id: `modelperm-${id.replace(/[^a-zA-Z0-9]/g, '')}`,
            object: 'model_permission',
            created,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      })),
    };
  }

  async #sideChannel(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJson(await readBody(req, 1024 * 1024));
    const b = (body.ok ? body.value : null) as Record<string, unknown> | null;
    const blocks = flattenBlockIds(b?.remote_block_ids);
    const local = b?.local_tokens ?? 0;
    if (!b || typeof b.remote_engine_id !== 'string' || typeof b.remote_request_id !== 'string' || !blocks || !Number.isInteger(b.prompt_tokens) || !Number.isInteger(local) || (local as number) < 0)
      return sendJson(res, 400, { ok: false, reason: 'malformed pull request' });
    const r = await this.nixl.pull({
      remote_engine_id: b.remote_engine_id,
      remote_request_id: b.remote_request_id,
      remote_block_ids: blocks,
      prompt_tokens: b.prompt_tokens as number,
      local_tokens: local as number,
    });
    sendJson(res, r.ok ? 200 : 404, r);
  }

  async #faultsRoute(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (method === 'GET') return sendJson(res, 200, this.faults);
    const body = parseJson(await readBody(req, 64 * 1024));
    if (!body.ok) return sendJson(res, 400, badRequest(body.message).body);
    if (!checkFaultPatch.Check(body.value)) {
      const first = checkFaultPatch.Errors(body.value).First();
      return sendJson(res, 400, badRequest(`${first?.path || 'body'}: ${first?.message ?? 'invalid'}`, first?.path ?? null).body);
    }
    const patch = body.value;
    this.faults = applyPatch(this.faults, patch, this.clock.now());
    if (patch.crash || patch.crashForMs !== undefined) {
      sendJson(res, 202, { crashing: true, restartInMs: patch.crashForMs ?? null });
      // Let the 202 leave before the sockets are cut.
      setImmediate(() => void this.crash(patch.crashForMs));
      return;
    }
    return sendJson(res, 200, this.faults);
  }

  /** What the simulator knows that vLLM does not publish; tests read it to check what the engine did. */
  state(): Record<string, unknown> {
    const e = this.engine;
    return {
      engineId: this.engineId,
      role: this.options.role,
      kvConnector: this.options.kvConnector,
      zmqAddress: this.p2p?.zmqAddress ?? null,
      uptimeMs: this.clock.now() - this.#startedAt,
      running: e.numRunning,
      waiting: e.numWaiting,
      openRequests: this.#open.size,
      kv: { numBlocks: e.pool.numBlocks, free: e.pool.numFree, cached: e.pool.numCached, usage: e.pool.usage, leases: this.nixl.active },
      stats: { ...e.stats, finished: { ...e.stats.finished } },
      nixl: { failedTransfers: this.nixl.failedTransfers, expiredLeases: this.nixl.expiredLeases },
      p2p: this.p2p ? { registrationsSent: this.p2p.registrationsSent, kvSent: this.p2p.kvSent, kvReceived: this.p2p.kvReceived, failedTransfers: this.p2p.failedTransfers } : null,
      faults: this.faults,
    };
  }
}

const ROUTES: Record<string, readonly string[]> = {
  '/health': ['GET'],
  '/ping': ['GET', 'POST'],
  '/version': ['GET'],
  '/load': ['GET'],
  '/metrics': ['GET'],
  '/v1/models': ['GET'],
  '/v1/completions': ['POST'],
  '/v1/chat/completions': ['POST'],
  '/tokenize': ['POST'],
  '/detokenize': ['POST'],
  '/reset_prefix_cache': ['POST'],
  [SIDE_CHANNEL_PATH]: ['POST'],
  '/_sim/faults': ['GET', 'POST'],
  '/_sim/state': ['GET'],
};

function bearerMatches(header: string | undefined, key: string): boolean {
  const want = createHash('sha256').update(`Bearer ${key}`).digest();
  return timingSafeEqual(
    createHash('sha256')
      .update(header ?? '')
      .digest(),
    want,
  );
}
