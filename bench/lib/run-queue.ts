// How long this thread has waited for a CPU (the second field of /proc/thread-self/schedstat, in
// ns): a micro-benchmark on a shared machine reads it around each timed call, and a call during
// which it grew was preempted, its duration the neighbours' as much as its own. Process-wide
// counters (getrusage's involuntary context switches) would not do: they count V8's helper
// threads too. Linux only; elsewhere `waitedNs` is null.
import { closeSync, openSync, readSync } from 'node:fs';

export class RunQueueClock {
  readonly #fd: number | null;
  readonly #buf = Buffer.alloc(128);

  constructor() {
    let fd: number | null = null;
    try {
      fd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      fd = null;
    }
    this.#fd = fd;
  }

  get available(): boolean {
    return this.#fd !== null;
  }

  /** Nanoseconds this thread has spent runnable but not running, since it started; null off Linux. */
  waitedNs(): number | null {
    if (this.#fd === null) return null;
    // One pread at offset 0 regenerates the file's line.
    const n = readSync(this.#fd, this.#buf, 0, this.#buf.length, 0);
    const s = this.#buf.toString('latin1', 0, n);
    const a = s.indexOf(' ');
    return Number(s.slice(a + 1, s.indexOf(' ', a + 1)));
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
  }
}
