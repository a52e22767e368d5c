// Collects the permission violations the server reports on a connection: a refused publish or
// subscription is not an exception in NATS, it arrives later as an `-ERR` (a status event).
import type { NatsConnection } from '@nats-io/transport-node';

/** A live list of the connection's errors as text (`Permissions Violation for Publish to "…"`). */
export function permissionErrors(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error') seen.push(String((s as { error?: unknown }).error));
    }
  })();
  return seen;
}

/** The violation text NATS reports for a publish to, or a subscription on, `subject`. */
export function violation(op: 'pub' | 'sub', subject: string): string {
  return `Permissions Violation for ${op === 'pub' ? 'Publish to' : 'Subscription to'} "${subject}"`;
}
