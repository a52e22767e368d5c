// Secrets (passwords, keys, tokens) from the environment or a file, never only from a flag: flags
// show in `ps` and /proc/<pid>/cmdline to every user of the host.
import { readFileSync } from 'node:fs';

/**
 * The secret: `value` when given (a flag or its environment variable), else the content of
 * `file` without one trailing newline (as `echo` and editors leave it), else undefined. A file
 * that cannot be read, or is empty, throws an Error naming the option (`what`); the secret
 * itself is never in a message.
 */
export function readSecret(opts: { value?: string; file?: string; what: string }): string | undefined {
  if (opts.value !== undefined && opts.value !== '') return opts.value;
  if (opts.file === undefined || opts.file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(`${opts.what}: cannot read ${opts.file} (${code})`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new Error(`${opts.what}: ${opts.file} is empty`);
  return secret;
}
