import { spawn } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { KvLeaseStore } from '/work/main/ingress/rate-limit-store.ts';
const p = spawn('nats-server', ['-c', '/work/main/nats.conf', '-p', '14333', '-sd', '/tmp/js-kv-test'], { stdio: 'inherit' });
await new Promise((r) => setTimeout(r, 800));
try {
  const nc = await connect({ servers: 'nats://127.0.0.1:14333', user: 'ingress-1', pass: 'ingress-1-dev', inboxPrefix: '_INBOX_ingress-1' });
  const s = await KvLeaseStore.open(nc);
  console.log(await s.lease('abc.r.1', 3, 10));
  console.log(await s.lease('abc.r.1', 3, 10));
  console.log(await s.lease('abc.r.1', 5, 10));
  console.log(await s.lease('abc.r.1', 5, 10));
  const nc2 = await connect({ servers: 'nats://127.0.0.1:14333', user: 'ingress-2', pass: 'ingress-2-dev', inboxPrefix: '_INBOX_ingress-2' });
  const s2 = await KvLeaseStore.open(nc2);
  const both = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s : s2).lease('race.r.1', 1, 10)));
  console.log(
    'race granted',
    both.reduce((a, b) => a + b.granted, 0),
  );
  await nc.close();
  await nc2.close();
} catch (e) {
  console.error('ERR', e);
}
p.kill();
