// Secrets (tokens, keys, passwords) come from the environment or a file, never only a flag: flags
// show in `ps` and in shell histories.
import { readFileSync } from 'node:fs';

/**
 * `value` (from the environment) wins over `file`; a file's content loses one trailing newline.
 * A file that is missing or unreadable throws an Error naming `what` (the option).
 */
export function readSecret(opts: { value?: string; file?: string; what: string }): string | undefined {
  if (opts.value !== undefined && opts.value !== '') return opts.value;
  if (opts.file === undefined || opts.file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (e) {
    throw new Error(`${opts.what}: cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return text.replace(/\r?\n$/, '');
}
