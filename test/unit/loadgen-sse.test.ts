// bench/loadgen SSE decoding: payloads of `data:` lines, across chunk boundaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseDecoder } from '../../bench/loadgen/sse.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('sse - events split anywhere across chunks come out whole and in order', () => {
  const stream = 'data: {"a":1}\n\ndata: {"b":"é"}\n\n: comment\n\nevent: x\ndata: [DONE]\n\n';
  const bytes = enc(stream);
  for (let cut = 1; cut < bytes.length; cut++) {
    const d = new SseDecoder();
    const out = [...d.push(bytes.slice(0, cut)), ...d.push(bytes.slice(cut))];
    assert.deepEqual(out, ['{"a":1}', '{"b":"é"}', '[DONE]'], `cut at ${cut}`);
    assert.equal(d.pending, '');
  }
});

test('sse - CRLF line ends and data without a space are accepted; a cut event stays pending', () => {
  const d = new SseDecoder();
  assert.deepEqual(d.push(enc('data:x\r\n\r\ndata: y\r\n')), ['x']);
  assert.equal(d.pending, 'data: y\n');
});
