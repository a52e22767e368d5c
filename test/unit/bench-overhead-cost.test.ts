// The overhead benchmark's pure parts: the cost per unit of work (cost.ts), nginx-relative targets
// (verdict.ts), the NATS /varz counters (lib/nats-varz.ts), the cost table (table.ts), and how
// `npm run bench -- overhead …` hands its options on (lib/command.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { passOn } from '../../bench/lib/command.ts';
import { countersDelta, countersOf } from '../../bench/lib/nats-varz.ts';
import { summarize } from '../../bench/lib/stats.ts';
import { cpuMicros, per, unitCost } from '../../bench/overhead/cost.ts';
import type { PointResult } from '../../bench/overhead/loadgen.ts';
import { costTable } from '../../bench/overhead/table.ts';
import { commonSustainedRate, cpuRatioTarget, ratio, sweepRatioTarget, ttftVsNginxTarget } from '../../bench/overhead/verdict.ts';

function point(o: {
  rate?: number;
  cpuPct?: Record<string, number | null>;
  wallS?: number;
  events?: number;
  completions?: number;
  ttft?: number[];
  e2e?: number[];
  nats?: PointResult['nats'];
}): PointResult {
  const rate = o.rate ?? 100;
  return {
    offeredRate: rate,
    windowS: 10,
    sent: rate * 10,
    measured: rate * 10,
    ok: rate * 10,
    errors: 0,
    errorRate: 0,
    errorKinds: {},
    firstError: null,
    achievedRate: rate,
    ttftMs: summarize(o.ttft ?? [10, 11, 12]),
    e2eMs: summarize(o.e2e ?? [100, 100, 100]),
    sendLagMs: summarize([0]),
    maxOpen: 10,
    cpuPct: o.cpuPct ?? {},
    window: { wallS: o.wallS ?? 10, completions: o.completions ?? rate * 10, events: o.events ?? rate * 10 * 64 },
    nats: o.nats ?? null,
  };
}

test('cost - CPU % of a core over a window, in µs, per unit', () => {
  assert.equal(cpuMicros(50, 2), 1e6);
  assert.ok(Number.isNaN(cpuMicros(null, 2)));
  assert.ok(Number.isNaN(cpuMicros(undefined, 2)));
  assert.equal(per(1e6, 1000), 1000);
  assert.ok(Number.isNaN(per(1e6, 0)));
});

test('cost - nginx: its workers per event and per request; no NATS', () => {
  // 20 % of a core for 10 s = 2 s of CPU, over 64,000 events and 1,000 requests.
  const c = unitCost('nginx', point({ cpuPct: { nginx: 20, sim: 40 }, events: 64_000, completions: 1000 }));
  assert.equal(c.systemPerEventUs, 2e6 / 64_000);
  assert.equal(c.systemPerRequestUs, 2000);
  assert.equal(c.perEventUs.sim, 4e6 / 64_000);
  assert.equal(c.nats, null);
});

test('cost - router: ingress + scheduler + nats-server together, the agent apart, NATS traffic per unit', () => {
  const nats = { inMsgs: 128_000, outMsgs: 130_000, inBytes: 12_800_000, outBytes: 13_000_000 };
  const c = unitCost('router', point({ cpuPct: { ingress: 30, scheduler: 40, nats: 10, agent: 1, sim: 40 }, events: 64_000, completions: 1000, nats }));
  assert.equal(c.systemPerRequestUs, 3000 + 4000 + 1000);
  assert.ok(Math.abs(c.systemPerEventUs - 8e6 / 64_000) < 1e-9);
  assert.equal(c.perRequestUs.agent, 100);
  assert.equal(c.perEventUs.agent, 1e5 / 64_000);
  // Not one message per token: whatever the window's counters say, divided by the work.
  assert.deepEqual(c.nats?.perEvent, { msgsIn: 2, msgsOut: 130_000 / 64_000, bytesIn: 200, bytesOut: 13_000_000 / 64_000 });
  assert.deepEqual(c.nats?.perRequest, { msgsIn: 128, msgsOut: 130, bytesIn: 12_800, bytesOut: 13_000 });
  // A group that was not read makes the system's sum unknown rather than too small.
  assert.ok(Number.isNaN(unitCost('router', point({ cpuPct: { ingress: 30, scheduler: null, nats: 10 } })).systemPerEventUs));
  // A JSON point has no events.
  assert.ok(Number.isNaN(unitCost('router', point({ cpuPct: { ingress: 30, scheduler: 40, nats: 10 }, events: 0 })).systemPerEventUs));
  assert.ok(Number.isNaN(unitCost('direct', point({ cpuPct: { sim: 40 } })).systemPerEventUs));
});

test('varz - counters of a /varz document, and their difference over a window', () => {
  const a = countersOf({ in_msgs: 10, out_msgs: 20, in_bytes: 1000, out_bytes: 2000, server_id: 'x' });
  assert.deepEqual(a, { inMsgs: 10, outMsgs: 20, inBytes: 1000, outBytes: 2000 });
  assert.equal(countersOf({ in_msgs: 10, out_msgs: 20, in_bytes: 1000 }), null);
  assert.equal(countersOf(null), null);
  assert.equal(countersOf({ in_msgs: '1', out_msgs: 2, in_bytes: 3, out_bytes: 4 }), null);
  const b = countersOf({ in_msgs: 110, out_msgs: 220, in_bytes: 11_000, out_bytes: 22_000 });
  assert.deepEqual(countersDelta(a, b), { inMsgs: 100, outMsgs: 200, inBytes: 10_000, outBytes: 20_000 });
  assert.equal(countersDelta(a, null), null);
  // Counters that went down: the server restarted in between, the difference means nothing.
  assert.equal(countersDelta(b, a), null);
});

test('verdict - CPU ratio against nginx', () => {
  const nginx = unitCost('nginx', point({ cpuPct: { nginx: 10 }, events: 50_000, completions: 1000 }));
  const cheap = unitCost('router', point({ cpuPct: { ingress: 8, scheduler: 8, nats: 3 }, events: 50_000, completions: 1000 }));
  const dear = unitCost('router', point({ cpuPct: { ingress: 30, scheduler: 40, nats: 10 }, events: 50_000, completions: 1000 }));
  assert.equal(ratio(4, 2), 2);
  assert.ok(Number.isNaN(ratio(4, 0)));
  assert.ok(Number.isNaN(ratio(NaN, 2)));
  const pass = cpuRatioTarget('per event', 'event', 2, cheap, nginx, true);
  assert.equal(pass.verdict, 'PASS');
  assert.match(pass.measured, /router 38\.0 µs \(ingress 16\.0 \+ scheduler 16\.0 \+ nats-server 6\.0\) vs nginx 20\.0 µs per event: 1\.90 ×/);
  assert.equal(pass.note, undefined);
  const fail = cpuRatioTarget('per request', 'request', 4, dear, nginx, false);
  assert.equal(fail.verdict, 'FAIL');
  assert.match(fail.measured, /8\.00 ×/);
  assert.ok(fail.note);
  assert.equal(cpuRatioTarget('x', 'event', 2, undefined, nginx, true).verdict, 'NOT MEASURED');
  const noEvents = unitCost('nginx', point({ cpuPct: { nginx: 10 }, events: 0 }));
  assert.equal(cpuRatioTarget('x', 'event', 2, cheap, noEvents, true).verdict, 'NOT MEASURED');
});

test('verdict - added TTFT is against nginx of the same run', () => {
  const nginx = point({ ttft: [10, 10, 10, 20] });
  const close = point({ ttft: [10.5, 10.5, 10.5, 24] });
  const far = point({ ttft: [15, 15, 15, 40] });
  assert.equal(ttftVsNginxTarget(100, close, nginx, true).verdict, 'PASS');
  const t = ttftVsNginxTarget(100, far, nginx, true);
  assert.equal(t.verdict, 'FAIL');
  assert.match(t.measured, /^p50 \+5\.00 ms/);
  assert.equal(ttftVsNginxTarget(100, far, undefined, true).verdict, 'NOT MEASURED');
  assert.equal(ttftVsNginxTarget(100, { ...far, ok: 0 }, nginx, true).verdict, 'NOT MEASURED');
});

test("verdict - the router's non-streaming ceiling against nginx's", () => {
  assert.equal(sweepRatioTarget(2000, 2500, 4000).verdict, 'PASS');
  assert.equal(sweepRatioTarget(1500, 2500, 4000).verdict, 'FAIL');
  assert.equal(sweepRatioTarget(null, 2500, 4000).verdict, 'FAIL');
  assert.equal(sweepRatioTarget(2000, null, 4000).verdict, 'NOT MEASURED');
  // nginx sustained everything it was offered: a pass proves nothing, a fail still fails.
  assert.equal(sweepRatioTarget(4000, 4000, 4000).verdict, 'NOT MEASURED');
  assert.equal(sweepRatioTarget(1000, 4000, 4000).verdict, 'FAIL');
});

test('verdict - the sweep rate at which CPU per request is compared', () => {
  const ok = (rate: number) => point({ rate });
  const bad = (rate: number) => point({ rate, e2e: [1000, 1000, 1000] });
  assert.equal(commonSustainedRate([ok(500), ok(1000), ok(2000)], [ok(500), ok(1000), bad(2000)], 150, 1000), 1000);
  assert.equal(commonSustainedRate([ok(500), bad(1000)], [ok(500), ok(1000)], 150, 1000), 500);
  assert.equal(commonSustainedRate([bad(500)], [ok(500)], 150, 1000), null);
});

test('table - CPU per event, with the router against nginx at the same rate and NATS per event', () => {
  const nats = { inMsgs: 128_000, outMsgs: 128_000, inBytes: 12_800_000, outBytes: 12_800_000 };
  const md = costTable(
    [
      { arm: 'direct', point: point({ cpuPct: { sim: 40 }, events: 64_000, completions: 1000 }) },
      { arm: 'nginx', point: point({ cpuPct: { nginx: 10, sim: 40 }, events: 64_000, completions: 1000 }) },
      { arm: 'router', point: point({ cpuPct: { ingress: 30, scheduler: 40, nats: 10, agent: 1, sim: 40 }, events: 64_000, completions: 1000, nats }) },
    ],
    'event',
  );
  const lines = md.split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /CPU µs per event, system .* Router ÷ nginx .* NATS msgs in \/ out per event/);
  assert.match(lines[3]!, /^\| 100 \| nginx \| 64,000 \/ 1,000 \| \*\*15\.6\*\* \| — \| — \| 1000 \|/);
  assert.match(lines[4]!, /^\| 100 \| router \| 64,000 \/ 1,000 \| \*\*125\.0\*\* \| 46\.9 \/ 62\.5 \/ 15\.6 \| 8\.00 × \| 8000 \| 1\.56 \| 62\.5 \| 2\.00 \/ 2\.00 \| 200 \/ 200 \|$/);
  const json = costTable([{ arm: 'nginx', point: point({ cpuPct: { nginx: 10 }, events: 0, completions: 1000 }) }], 'request');
  assert.match(json, /\| 100 \| nginx \| 1,000 \| \*\*1000\.0\*\* \|/);
});

test('bench run - `overhead` hands every other argument on, in order', () => {
  const values = ['--systems', '--seed'];
  assert.deepEqual(passOn(['overhead', '--quick', '--rates', '100,300', '--no-rss'], 'overhead', values), ['--quick', '--rates', '100,300', '--no-rss']);
  assert.deepEqual(passOn(['--quick', 'overhead', '--seconds', '5'], 'overhead', values), ['--quick', '--seconds', '5']);
  assert.deepEqual(passOn(['--seed', 'overhead', 'overhead'], 'overhead', values), ['--seed', 'overhead']);
  assert.equal(passOn(['llama-8p8d', '--quick'], 'overhead', values), null);
  assert.equal(passOn(['--quick'], 'overhead', values), null);
  assert.deepEqual(passOn(['--', 'overhead', '--quick'], 'overhead', values), ['--quick']);
});
