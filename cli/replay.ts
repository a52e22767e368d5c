// `llm-router replay`: recorded requests (LLM_AUDIT, bodies kept with --audit-bodies full) sent
// again to any OpenAI endpoint at their original pace, and a report beside the recorded answers.
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { readAudit } from '../audit/reader.ts';
import { planReplay, replayTo, summarize, type ReplayFilter, type Sent } from '../audit/replay.ts';
import type { AuditRecord } from '../proto/audit.ts';
import { connectAuditor } from './auditor.ts';
import { addBusOptions, type BusFlags } from './common.ts';
import { pointInTime } from './parsers.ts';

function filterOf(value: string): ReplayFilter {
  const out: { model?: string; status?: number; key?: string } = {};
  for (const part of value.split(',')) {
    const [k, v] = part.split('=', 2) as [string, string | undefined];
    if (v === undefined || v === '') throw new InvalidArgumentError(`expected key=value pairs (model, status, key), got "${part}"`);
    if (k === 'model') out.model = v;
    else if (k === 'key') out.key = v;
    else if (k === 'status' && /^\d{3}$/.test(v)) out.status = Number(v);
    else throw new InvalidArgumentError(`unknown or malformed filter ${part} (model=…, status=NNN, key=…)`);
  }
  return out;
}

interface ReplayFlags extends BusFlags {
  target: string;
  since: string;
  until?: string;
  id?: string;
  filter?: ReplayFilter;
  speed: number;
  apiKey?: string;
  timeoutMs: number;
  report?: string;
}

const fmt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(0));

function line(s: Sent): string {
  const r =
    'error' in s.replay
      ? `error ${s.replay.error}`
      : `${s.replay.status} ttft ${fmt(s.replay.ttftMs)} ms e2e ${fmt(s.replay.e2eMs)} ms tokens ${fmt(s.replay.promptTokens)}+${fmt(s.replay.completionTokens)}`;
  const o = s.recorded
    ? `${s.recorded.status} ttft ${fmt(s.recorded.ttftMs)} ms e2e ${fmt(s.recorded.e2eMs)} ms tokens ${fmt(s.recorded.promptTokens)}+${fmt(s.recorded.completionTokens)}`
    : 'no end record';
  return `${s.id}  replay: ${r}  |  recorded: ${o}`;
}

export function replayCommand(): Command {
  return addBusOptions(new Command('replay'))
    .description('send recorded requests again (to a staging router, one worker, the local stack) and compare the answers')
    .requiredOption('--target <url>', 'the OpenAI endpoint to send to (base URL, e.g. http://127.0.0.1:8000)')
    .addOption(new Option('--since <when>', 'first recorded request (ISO date, or a duration back from now)').default('1h'))
    .option('--until <when>', 'last recorded request (default: now)')
    .option('--id <id>', 'one request only (the client’s request id, or the audit id)')
    .addOption(new Option('--filter <k=v,…>', 'model=…, status=NNN (the recorded one), key=… (API key name)').argParser(filterOf))
    .addOption(
      new Option('--speed <x>', 'replay this many times faster than recorded').default(1).argParser((v) => {
        const n = Number(v);
        if (!(n > 0)) throw new InvalidArgumentError('expected a number above 0');
        return n;
      }),
    )
    .addOption(new Option('--api-key <key>', "bearer key for the target's /v1 routes").env('LLMR_REPLAY_API_KEY'))
    .addOption(new Option('--timeout-ms <ms>', 'per request').default(300_000).argParser(Number))
    .option('--report <file>', 'the report, as JSON (default: replay-<time>.json)')
    .action(async (f: ReplayFlags) => {
      const nc = await connectAuditor(f, 'replay');
      const records: AuditRecord[] = [];
      const until = f.until ? pointInTime(f.until) : Date.now();
      try {
        for await (const i of readAudit(nc, { since: pointInTime(f.since), until, follow: false })) if (i.ok) records.push(i.record);
      } finally {
        await nc.close();
      }
      const chosen = f.id ? records.filter((r) => r.id === f.id || r.requestId === f.id) : records;
      const plan = planReplay(chosen, f.filter ?? {}, f.speed);
      process.stderr.write(`${plan.items.length} requests to replay (${plan.withoutBody} recorded without their body, ${plan.filteredOut} filtered out)\n`);
      if (plan.items.length === 0) {
        process.exitCode = 1;
        return;
      }
      let n = 0;
      const run = replayTo({ url: f.target, headers: f.apiKey ? { authorization: `Bearer ${f.apiKey}` } : {}, timeoutMs: f.timeoutMs }, plan.items, (s) => {
        n++;
        if (f.id || plan.items.length <= 20) process.stdout.write(`${line(s)}\n`);
        else if (n % 100 === 0) process.stderr.write(`${n}/${plan.items.length}\n`);
      });
      // Ctrl-C: stop sending, report what was sent.
      process.once('SIGINT', () => run.stop());
      const sent = await run.done;
      const summary = summarize(sent);
      const file = f.report ?? `replay-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
      writeFileSync(file, `${JSON.stringify({ target: f.target, since: f.since, until: new Date(until).toISOString(), speed: f.speed, summary, requests: sent }, null, 2)}\n`);
      process.stdout.write(
        [
          '',
          '| | recorded | replay |',
          '|---|---|---|',
          `| requests | ${plan.items.length} | ${summary.sent} sent; ${Object.entries(summary.statuses)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')} |`,
          `| TTFT p50 (ms) | ${fmt(summary.ttftP50Ms.recorded)} | ${fmt(summary.ttftP50Ms.replay)} |`,
          `| end-to-end p50 (ms) | ${fmt(summary.e2eP50Ms.recorded)} | ${fmt(summary.e2eP50Ms.replay)} |`,
          `| status changed | | ${summary.statusChanged} |`,
          `| inter-arrival error (median) | | ${(100 * summary.interArrivalError).toFixed(1)} % |`,
          '',
          `report: ${file}`,
          '',
        ].join('\n'),
      );
    });
}
