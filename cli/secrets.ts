// Secrets (tokens, keys, passwords) come from the environment or a file, so that they never
// have to be written on a command line (`ps` shows flags to every user of the machine).
import { readFileSync } from 'node:fs';

/**
 * The secret: `value` (from the environment) when set, else the content of `file` without one
 * trailing newline, else undefined. A file that cannot be read throws an Error naming `what`.
 */
export function readSecret(opts: { value?: string; file?: string; what: string }): string | undefined {
  if (opts.value !== undefined && opts.value !== '') return opts.value;
  if (opts.file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${opts.what} ${opts.file}: ${(e as Error).message}`);
  }
  return text.replace(/\r?\n$/, '');
}
