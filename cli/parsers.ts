// Option value parsers shared by the subcommands: each rejects a bad value with a message that
// names the expected form (commander prints it and exits with status 1).
import { InvalidArgumentError } from 'commander';
import { isSubjectId } from '../proto/subjects.ts';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

export const port = integer(1, 65535);

/** `MIN:MAX` (or a single number for both). */
export function range(value: string): { min: number; max: number } {
  const [a, b = a] = value.split(':');
  const min = Number(a);
  const max = Number(b);
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min) throw new InvalidArgumentError('expected MIN:MAX with 1 <= MIN <= MAX');
  return { min, max };
}

export function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** An id that is also a subject token: letters, digits, `_` and `-`, at most 128. */
export function subjectId(value: string): string {
  if (!isSubjectId(value)) throw new InvalidArgumentError('expected 1 to 128 letters, digits, _ or -');
  return value;
}

export function zmqEndpoint(value: string): string {
  if (!/^tcp:\/\/[^:\s]+:\d{1,5}$/.test(value)) throw new InvalidArgumentError('expected tcp://HOST:PORT');
  return value;
}

/** A duration: milliseconds, or a number with s, m, h or d (`7d`, `12h`). */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a duration: milliseconds, or a number with s, m, h or d (e.g. 7d)');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Math.round(Number(m[1]) * unit);
}

/** A size in bytes: a number, or with K, M, G or T (powers of 1024; `1G`). */
export function byteSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?i?B?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a size: bytes, or a number with K, M, G or T (e.g. 10G)');
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m[2] ?? '').toUpperCase()]!;
  return Math.round(Number(m[1]) * unit);
}

/** A point in time: an ISO date, or a duration back from now (`2h` = two hours ago). Epoch ms. */
export function pointInTime(value: string, now = Date.now()): number {
  const d = Date.parse(value);
  if (Number.isFinite(d) && /\d{4}-\d{2}-\d{2}/.test(value)) return d;
  return now - duration(value);
}
