// `llm-router audit show|tail|export`: the audit stream LLM_AUDIT read back (as the `auditor`
// user of nats.conf, whose credential can read the stream and nothing else).
import { Command, Option } from 'commander';
import { readAudit, type ReadItem } from '../audit/reader.ts';
import { story } from '../audit/story.ts';
import type { AuditRecord } from '../proto/audit.ts';
import { connectAuditor } from './auditor.ts';
import { addBusOptions, type BusFlags } from './common.ts';
import { pointInTime } from './parsers.ts';

async function each(f: BusFlags, o: { since: number; until?: number; follow: boolean }, fn: (i: ReadItem) => void): Promise<void> {
  const nc = await connectAuditor(f, 'audit');
  try {
    for await (const item of readAudit(nc, o)) fn(item);
  } finally {
    await nc.close();
  }
}

function matches(r: AuditRecord, filter: { model?: string; status?: string }): boolean {
  if (filter.model !== undefined && 'model' in r && r.model !== filter.model) return false;
  if (filter.status !== undefined && (r.phase !== 'end' || String(r.status) !== filter.status)) return false;
  return true;
}

export function auditCommand(): Command {
  const cmd = new Command('audit').description('read the audit stream LLM_AUDIT: one request’s story, the records as they come, or a window as JSON lines');
  cmd.addCommand(
    addBusOptions(new Command('show'))
      .description('the whole story of one request, in order')
      .argument('<id>', 'the request id the client saw (X-Request-Id), or the audit id')
      .addOption(new Option('--since <when>', 'look from this time (ISO date, or a duration back from now)').default('24h'))
      .option('--json', 'the records as JSON lines instead of text', false)
      .action(async (id: string, f: BusFlags & { since: string; json: boolean }) => {
        const found: AuditRecord[] = [];
        const since = pointInTime(f.since);
        await each(f, { since, follow: false }, (i) => {
          if (i.ok && (i.record.id === id || i.record.requestId === id)) found.push(i.record);
        });
        if (found.length === 0) {
          process.stderr.write(`no audit record of ${id} since ${new Date(since).toISOString()}\n`);
          process.exitCode = 1;
          return;
        }
        // A client may reuse an X-Request-Id: each request (audit id) is told apart.
        for (const aid of new Set(found.map((r) => r.id))) {
          const rs = found.filter((r) => r.id === aid);
          process.stdout.write(f.json ? rs.map((r) => `${JSON.stringify(r)}\n`).join('') : `${story(rs)}\n\n`);
        }
      }),
  );
  cmd.addCommand(
    addBusOptions(new Command('tail'))
      .description('records as they are stored (Ctrl-C stops)')
      .option('--model <model>', 'only this model’s request and decision records')
      .option('--status <status>', 'only end records with this status')
      .addOption(new Option('--since <when>', 'start this far back (default: now)'))
      .action(async (f: BusFlags & { model?: string; status?: string; since?: string }) => {
        await each(f, { since: f.since ? pointInTime(f.since) : Date.now(), follow: true }, (i) => {
          if (!i.ok) process.stderr.write(`#${i.seq}: unreadable record (${i.reason})\n`);
          else if (matches(i.record, f)) process.stdout.write(`${JSON.stringify(i.record)}\n`);
        });
      }),
  );
  cmd.addCommand(
    addBusOptions(new Command('export'))
      .description('every record of a time window as JSON lines')
      .requiredOption('--since <when>', 'ISO date, or a duration back from now')
      .option('--until <when>', 'ISO date, or a duration back from now (default: now)')
      .action(async (f: BusFlags & { since: string; until?: string }) => {
        const until = f.until ? pointInTime(f.until) : Date.now();
        await each(f, { since: pointInTime(f.since), until, follow: false }, (i) => {
          if (i.ok) process.stdout.write(`${JSON.stringify(i.record)}\n`);
          else process.stderr.write(`#${i.seq}: unreadable record (${i.reason})\n`);
        });
      }),
  );
  return cmd;
}
