// Work deferred to the end of the current turn of the event loop, all of it in one setImmediate.
// nats.js writes its outbound buffer to the socket once per microtask checkpoint, so publishes
// made from many callbacks of one turn (one HTTP request each, one upstream chunk each) would
// otherwise cost a socket write each — on loopback the sender's write also pays for the peer's
// receive path, which made the write the largest single cost of both the ingress and the
// scheduler in profiles (bench/overhead --cpu-prof). Publishing them together at the end of the
// turn makes that one write, for at most one turn's delay.
const queue: Array<() => void> = [];
let scheduled = false;

function runAll(): void {
  scheduled = false;
  const jobs = queue.splice(0);
  for (const job of jobs) {
    try {
      job();
    } catch (e) {
      // Jobs handle their own failures; one that does not must not take the others down with it.
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

/** Runs `job` at the end of this turn, after every job queued before it. Jobs must not throw. */
export function atEndOfTurn(job: () => void): void {
  queue.push(job);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runAll);
  }
}
