// Default ids for processes whose id is also their identity on the bus. nats.conf gives each
// ingress and agent instance its own user, with permissions on subjects named after that user
// (an ingress reads only `llm.v2.resp.<its id>.>`, an agent publishes only
// `llm.v1.hb.*.<its id>.*`), so the natural default id is the NATS user's name.
import { hostname } from 'node:os';
import { isSubjectId } from '../proto/subjects.ts';
import { randomId } from './common.ts';

/** The id given, else the NATS user when it is a valid id, else `fallback()`. */
export function busIdentity(given: string | undefined, natsUser: string | undefined, fallback: () => string): string {
  if (given !== undefined) return given;
  if (natsUser !== undefined && isSubjectId(natsUser)) return natsUser;
  return fallback();
}

/** An agent's default id without a NATS user: stable across restarts on one host (its workers stay bound to it). */
export function hostAgentId(): string {
  const h = hostname()
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .slice(0, 100);
  return h ? `agent-${h}` : randomId('agent');
}
