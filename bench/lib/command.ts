// The benchmarks' command lines, on commander like the CLI's: every entry point builds its options
// with `benchCommand`, so `--help` lists them with their defaults and a bad value is a usage error
// (the message, the help, exit status 2) before anything starts.
import { Command, InvalidArgumentError } from 'commander';

export { integer } from '../../cli/parsers.ts';

/** A command whose usage errors exit with status 2 (`--help` exits 0). */
export function benchCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .showHelpAfterError()
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
}

/** A finite number of at least `min`. */
export function atLeast(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
    return n;
  };
}

/** A finite number above 0. */
export function positive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number above 0');
  return n;
}

/** An integer of at least `min` (a fractional value is rounded down, as the harnesses always did). */
export function wholeAtLeast(min: number) {
  const n = atLeast(min);
  return (value: string): number => Math.floor(n(value));
}

/** Positive numbers, comma-separated (`_` allowed as a digit separator), in ascending order. */
export function positiveList(value: string): number[] {
  const out = value.split(',').map((x) => Number(x.trim().replace(/_/g, '')));
  if (out.some((x) => !Number.isFinite(x) || x <= 0)) throw new InvalidArgumentError('expected positive numbers, comma-separated');
  return out.sort((x, y) => x - y);
}

/** For a repeatable option: each occurrence appends its value. */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * When the first operand of `argv` (without node and the script) is `word`, every other argument,
 * in order, to hand on to the program that `word` runs (which parses them itself); else null.
 * `valueOptions` are this command's options that take their value as the next argument (so that
 * a value is not mistaken for the operand).
 */
export function passOn(argv: readonly string[], word: string, valueOptions: readonly string[]): string[] | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1] === word ? [...argv.slice(0, i), ...argv.slice(i + 2)] : null;
    if (valueOptions.includes(a)) i++;
    else if (!a.startsWith('-')) return a === word ? [...argv.slice(0, i), ...argv.slice(i + 1)] : null;
  }
  return null;
}
