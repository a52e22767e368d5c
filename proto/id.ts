// The ids the router makes itself (ingress, scheduler, region, agent, worker, request, stream)
// go into subjects as they are, so each must already be one plain subject token. One pattern for
// all of them, as a regular expression and as a TypeBox schema for the messages that carry ids.
import { Type } from '@sinclair/typebox';

export const ID_PATTERN = '^[A-Za-z0-9_-]{1,128}$';
const ID = new RegExp(ID_PATTERN);

export function isSubjectId(s: string): boolean {
  return ID.test(s);
}

export const IdSchema = Type.String({ pattern: ID_PATTERN });
