// JSON messages on the bus: one TypeBox schema each, compiled once, checked on receipt; what
// fails the check is dropped by the receiver, never trusted. Encoding is plain JSON of the typed
// value, so the bytes are what JSON.stringify makes of it.
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(v: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(v));
}

export interface JsonCodec<T> {
  /** The message as it goes on the bus. */
  encode(v: T): Uint8Array;
  /** A received message; null when it is not UTF-8 JSON or does not match the schema. */
  decode(data: Uint8Array): T | null;
  /** A value already parsed from JSON; null when it does not match the schema. */
  check(v: unknown): T | null;
}

export function jsonCodec<S extends TSchema>(schema: S): JsonCodec<Static<S>> {
  const compiled = TypeCompiler.Compile(schema);
  const check = (v: unknown): Static<S> | null => (compiled.Check(v) ? v : null);
  return {
    encode: (v) => encodeJson(v),
    check,
    decode: (data) => {
      let v: unknown;
      try {
        v = JSON.parse(decoder.decode(data));
      } catch {
        return null;
      }
      return check(v);
    },
  };
}
