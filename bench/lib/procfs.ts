// Reads what the benchmark needs from /proc: a process's CPU time and resident memory, the
// machine's load average. Linux only; every reader returns null when the file is gone.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticks: number | null = null;

/** Clock ticks per second (getconf CLK_TCK), for the jiffies in /proc/<pid>/stat. */
export function clockTicks(): number {
  if (ticks === null) {
    const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    ticks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticks;
}

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): index 0 is field 3 (state),
    // so utime (field 14) is index 11 and stime (field 15) index 12.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks();
  } catch {
    return null;
  }
}

/**
 * Time on a CPU of a process's live threads, in seconds, to the nanosecond: the sum of
 * /proc/<pid>/task/<tid>/schedstat. utime + stime count in clock ticks (10 ms), too coarse for
 * the CPU cost of a few thousand requests; a thread that exits takes its time with it (the
 * processes measured keep theirs for their lifetime). Null when the process or schedstat is gone.
 */
export function runSeconds(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
      } catch {
        // the thread exited between the listing and the read
      }
    }
    return Number.isFinite(ns) ? ns / 1e9 : null;
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function memory(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** The 1-minute load average. */
export function loadAverage1(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** A process's children (nginx's workers), from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU seconds of each named group of processes (schedstat's nanoseconds where the kernel has
 * them, else utime + stime); call again later and pass both to `cpuPercent`.
 */
export function cpuSnapshot(groups: Readonly<Record<string, readonly number[]>>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let sum = 0;
    let any = false;
    for (const pid of pids) {
      const s = runSeconds(pid) ?? cpuSeconds(pid);
      if (s !== null) {
        sum += s;
        any = true;
      }
    }
    out[name] = any ? sum : null;
  }
  return out;
}

/** % of one core each process used between two snapshots taken `wallS` seconds apart. */
export function cpuPercent(a: Record<string, number | null>, b: Record<string, number | null>, wallS: number): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const name of Object.keys(a)) {
    const x = a[name];
    const y = b[name];
    out[name] = x === null || x === undefined || y === null || y === undefined ? null : ((y - x) / wallS) * 100;
  }
  return out;
}

/**
 * CPU seconds the whole machine spent, all cores: in processes (user+nice+system), in interrupts
 * (irq+softirq: loopback TCP receive work mostly lands here, for whoever sent), and stolen by the
 * hypervisor (steal: other guests on the host).
 */
export function machineSeconds(): { processes: number; irq: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const t = clockTicks();
    return { processes: ((v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0)) / t, irq: ((v[5] ?? 0) + (v[6] ?? 0)) / t, steal: (v[7] ?? 0) / t };
  } catch {
    return null;
  }
}

export interface CoreJiffies {
  readonly busy: number;
  readonly irq: number;
  readonly total: number;
}

/** Busy, interrupt and total jiffies of one CPU core (/proc/stat "cpuN" line). */
export function coreJiffies(core: number): CoreJiffies | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${core} `));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, x) => a + x, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    // user nice system idle iowait irq softirq steal …
    return { busy: total - idle, irq: (v[5] ?? 0) + (v[6] ?? 0), total };
  } catch {
    return null;
  }
}

/**
 * What else ran on a core between two readings, in % of that core: other processes than the one
 * that used `ownPct` %, and interrupts (irq + softirq). Null when either reading is missing.
 */
export function coreUse(a: CoreJiffies | null, b: CoreJiffies | null, ownPct: number): { otherPct: number | null; irqPct: number | null } {
  if (!a || !b || b.total <= a.total) return { otherPct: null, irqPct: null };
  const span = b.total - a.total;
  const irq = ((b.irq - a.irq) / span) * 100;
  const busy = ((b.busy - a.busy) / span) * 100;
  return { otherPct: Math.max(0, busy - irq - ownPct), irqPct: irq };
}
