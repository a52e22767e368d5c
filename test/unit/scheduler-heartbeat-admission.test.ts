// What a heartbeat may claim, as a table: the subject's tokens (pinned by the bus), the send
// time against our clock, the interval, and the worker's networks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Heartbeat } from '../../proto/heartbeat.ts';
import { parseAllowList } from '../../runtime/address-allow.ts';
import { admitHeartbeat, HEARTBEAT_LIMIT_DEFAULTS, type HeartbeatLimits } from '../../scheduler/heartbeat-admission.ts';
import { heartbeat } from '../helpers/fixtures.ts';

const NOW = 1_000_000;
const OPEN: HeartbeatLimits = { ...HEARTBEAT_LIMIT_DEFAULTS, workerAllow: null };
const GUARDED: HeartbeatLimits = { ...OPEN, workerAllow: parseAllowList('10.0.0.0/8,fd00::/8') };
const FROM = { region: 'r1', agent: 'agent-1', worker: 'w' };

const CASES: readonly [string, Partial<Heartbeat>, HeartbeatLimits, string | null, typeof FROM?][] = [
  ['an honest beat', {}, OPEN, null],
  ['sent a little in the future (clock skew)', { sentAt: NOW + HEARTBEAT_LIMIT_DEFAULTS.maxClockSkewMs }, OPEN, null],
  ['sent beyond the skew', { sentAt: NOW + HEARTBEAT_LIMIT_DEFAULTS.maxClockSkewMs + 1 }, OPEN, 'future'],
  ['sent half an hour ahead', { sentAt: NOW + 30 * 60_000 }, OPEN, 'future'],
  ['the largest interval', { intervalMs: HEARTBEAT_LIMIT_DEFAULTS.maxIntervalMs }, OPEN, null],
  ['a longer interval', { intervalMs: HEARTBEAT_LIMIT_DEFAULTS.maxIntervalMs + 1 }, OPEN, 'interval'],
  ['payload names another agent', { agent: 'agent-2' }, OPEN, 'subject_mismatch'],
  ['payload names another worker', { id: 'other' }, OPEN, 'subject_mismatch'],
  ['payload names another region', { region: 'r2' }, OPEN, 'subject_mismatch'],
  ['inside the networks', { url: 'http://10.1.2.3:8000' }, GUARDED, null],
  ['IPv6 inside', { url: 'http://[fd00::5]:8000' }, GUARDED, null],
  ['outside the networks', { url: 'http://203.0.113.9:8000' }, GUARDED, 'not_allowed'],
  ['a host name when networks are set', { url: 'http://gpu-1.internal:8000' }, GUARDED, 'not_allowed'],
  ['a host name with no networks set', { url: 'http://gpu-1.internal:8000' }, OPEN, null],
  ['a P2P-NCCL address outside', { url: 'http://10.0.0.1:8000', connector: { kind: 'p2p-nccl', zmqAddress: '203.0.113.9:21001' } }, GUARDED, 'not_allowed'],
  ['a P2P-NCCL address inside', { url: 'http://10.0.0.1:8000', connector: { kind: 'p2p-nccl', zmqAddress: '10.0.0.1:21001' } }, GUARDED, null],
];

for (const [name, over, limits, want] of CASES) {
  test(`heartbeat admission - ${name}: ${want ?? 'admitted'}`, () => {
    const hb = heartbeat('w', { agent: 'agent-1', region: 'r1', sentAt: NOW, ...over });
    const r = admitHeartbeat(hb, FROM, NOW, limits);
    assert.equal(r.ok ? null : r.result, want, r.ok ? '' : r.reason);
  });
}
