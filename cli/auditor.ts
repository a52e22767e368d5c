// The connection `llm-router audit` and `llm-router replay` read LLM_AUDIT with: the `auditor`
// user of nats.conf unless the bus flags name another, quiet unless asked.
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import type { BusFlags } from './common.ts';
import { natsOptions } from './nats-options.ts';

export async function connectAuditor(f: BusFlags, name: string): Promise<NatsConnection> {
  const log = createLogger(name, f.logLevel === 'info' ? 'warn' : f.logLevel);
  const user = f.natsUser ?? 'auditor';
  return connectNats(natsOptions({ ...f, natsUser: user }, { name: `llm-router-${name}`, inboxPrefix: `_INBOX_${user}` }), log);
}
