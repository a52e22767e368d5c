import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSecret } from '../../cli/secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'llmr-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('cli-secrets', () => {
  test('cli-secrets - a value wins over a file, and nothing given is undefined', () => {
    assert.equal(readSecret({ value: 'v', file: file('a', 'f'), what: '--x' }), 'v');
    assert.equal(readSecret({ value: 'v', file: '/nonexistent', what: '--x' }), 'v');
    assert.equal(readSecret({ what: '--x' }), undefined);
    // an empty variable (FOO= in an env file) is no value
    assert.equal(readSecret({ value: '', file: file('b', 'from-file'), what: '--x' }), 'from-file');
    assert.equal(readSecret({ value: '', what: '--x' }), undefined);
  });

  test('cli-secrets - a file loses exactly one trailing newline, nothing else', () => {
    assert.equal(readSecret({ file: file('n', 's3cret\n'), what: '--x' }), 's3cret');
    assert.equal(readSecret({ file: file('crlf', 's3cret\r\n'), what: '--x' }), 's3cret');
    assert.equal(readSecret({ file: file('nn', 's3cret\n\n'), what: '--x' }), 's3cret\n');
    assert.equal(readSecret({ file: file('sp', ' s3cret '), what: '--x' }), ' s3cret ');
    assert.equal(readSecret({ file: file('raw', 's3cret'), what: '--x' }), 's3cret');
  });

  test('cli-secrets - a missing, unreadable or empty file throws naming the option, never the content', () => {
    assert.throws(() => readSecret({ file: '/nonexistent/pw', what: '--nats-password-file' }), /^Error: --nats-password-file: cannot read \/nonexistent\/pw \(ENOENT\)$/);
    assert.throws(() => readSecret({ file: dir, what: '--nats-password-file' }), /--nats-password-file: cannot read .* \(EISDIR\)/);
    assert.throws(() => readSecret({ file: file('empty', '\n'), what: '--nats-password-file' }), /--nats-password-file: .* is empty/);
  });
});
