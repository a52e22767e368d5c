// Asks any scheduler (one replica, through the queue group) what the fleet looks like: the models
// it serves and how many workers are ready. GET /v1/models and /readiness answer from it.
import type { NatsConnection } from '@nats-io/transport-node';
import { errors } from '../proto/errors.ts';
import { decodeSchedulerInfo, type SchedulerInfo } from '../proto/scheduler-info.ts';
import { subjects } from '../proto/subjects.ts';

export type { SchedulerInfo };

/** Rejects with LLMR_ERR_NO_SCHEDULER when none answers in time or the answer is malformed. */
export async function schedulerInfo(nc: NatsConnection, timeoutMs = 1000): Promise<SchedulerInfo> {
  let info: SchedulerInfo | null = null;
  try {
    const m = await nc.request(subjects.schedInfo, undefined, { timeout: timeoutMs });
    info = decodeSchedulerInfo(m.data);
  } catch {
    // no responders, a timeout, or the bus is down: no scheduler to ask
  }
  if (!info) throw errors.LLMR_ERR_NO_SCHEDULER();
  return info;
}
