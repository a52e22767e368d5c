// Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 4 bytes ↔ 5 characters, big-endian base 85.
// zeromq.js makes keys in Z85 but does not convert them, and the ZAP handler receives a client's
// key as 32 raw bytes; this turns one into the other. Pure.

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new RangeError(`Z85 encodes multiples of 4 bytes, not ${data.length}`);
  let out = '';
  for (let i = 0; i < data.length; i += 4) {
    let n = ((data[i]! << 24) >>> 0) + (data[i + 1]! << 16) + (data[i + 2]! << 8) + data[i + 3]!;
    let chunk = '';
    for (let k = 0; k < 5; k++) {
      chunk = ALPHABET[n % 85]! + chunk;
      n = Math.floor(n / 85);
    }
    out += chunk;
  }
  return out;
}

/** null when `text` is not Z85 (wrong length or a character outside the alphabet). */
export function z85Decode(text: string): Uint8Array | null {
  if (text.length % 5 !== 0) return null;
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let n = 0;
    for (let k = 0; k < 5; k++) {
      const v = VALUE.get(text[i + k]!);
      if (v === undefined) return null;
      n = n * 85 + v;
    }
    if (n > 0xffffffff) return null;
    out[o] = n >>> 24;
    out[o + 1] = (n >>> 16) & 0xff;
    out[o + 2] = (n >>> 8) & 0xff;
    out[o + 3] = n & 0xff;
  }
  return out;
}
