// The systems the overload benchmark compares, on the same simulated workers. Their settings are
// fixed here, before any run, from the fleet's shape alone (docs: bench/overload/README.md):
//  - router-admission: the router sized as docs/OVERLOAD.md tells operators to: the ingress lets
//    through the fleet's sequence slots and a quarter more (a short queue at each worker keeps it
//    busy between requests), and queues for at most half the TTFT SLO (the other half is for the
//    worker's own queue and the prefill; a request that waited longer has missed the SLO anyway);
//    the queue's size (4 × the slots) only bounds memory, the timeout is what binds. The
//    schedulers hold requests while every worker is saturated and keep the retry budget (defaults);
//  - router-open: the same router with all of that off (no admission, --no-shed, --no-retry-budget);
//  - nginx: round robin over the workers as bench/lib/nginx.ts configures it.
// Both router arms use round_robin, as nginx does, so that what differs is the overload handling.
import { ensureNginx, startNginx } from '../lib/nginx.ts';
import { freePort, stopChild, type Child } from '../lib/procs.ts';
import { plainRouter, startRouter, waitForModel } from '../lib/router.ts';

export const SYSTEMS = ['router-admission', 'router-open', 'nginx'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface Fleet {
  readonly workers: number;
  readonly maxNumSeqs: number;
  readonly sloMs: number;
}

export interface Running {
  readonly url: string;
  stop(): Promise<void>;
}

/** The admission settings router-admission runs with, from the fleet's shape. */
export function admissionArgs(f: Fleet): string[] {
  const slots = f.workers * f.maxNumSeqs;
  return ['--max-concurrent-requests', String(Math.ceil(1.25 * slots)), '--queue-size', String(4 * slots), '--queue-timeout-ms', String(Math.round(f.sloMs / 2))];
}

export async function startSystem(name: SystemName, root: string, model: string, workerUrls: readonly string[], f: Fleet, log: (s: string) => void): Promise<Running> {
  if (name === 'nginx') {
    const n = await startNginx(ensureNginx(log), await freePort(), workerUrls, null);
    return { url: n.url, stop: () => stopChild(n.child) };
  }
  const admission = name === 'router-admission';
  const r = await startRouter(
    {
      ...plainRouter(root),
      ingressArgs: admission ? admissionArgs(f) : [],
      schedulerArgs: admission ? [] : ['--no-shed', '--no-retry-budget'],
    },
    workerUrls,
  );
  await waitForModel(r.url, model, workerUrls.length, 30_000, r.ingress);
  const children: Child[] = [r.ingress, r.scheduler, ...r.agents, r.nats];
  return {
    url: r.url,
    stop: async () => {
      for (const c of children) await stopChild(c);
    },
  };
}
