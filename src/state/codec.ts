// Reading and writing whole values of a field type at a byte offset of a region. Used by
// snapshot(), get() of composite values, set() of non-atomic values and update().
// Integers are written by atomic add of the difference (so a concurrent lock-free add is
// merged, never lost); everything else by plain stores under the lock and the seqlock.
import { z } from "zod";
import { align8, inlineOffsets, sizeOf } from "./layout.ts";
import type { StateRegion } from "./region.ts";
import type { FieldType } from "./schema.ts";

export interface Codec {
  read(off: number): unknown;
  /** Writes `next` over `prev` (the value read under the same lock). Journaling is the caller's. */
  write(off: number, next: unknown, prev: unknown): void;
  equal(a: unknown, b: unknown): boolean;
}

/** Writes `s` (already checked to fit) at `at`; returns its UTF-8 length. ASCII is copied inline. */
export function writeUtf8(r: StateRegion, s: string, at: number, max: number): number {
  const u8 = r.u8;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return i + r.bytes.utf8Write(s.slice(i), at + i, max - i);
    u8[at + i] = c;
  }
  return n;
}
const same = (a: unknown, b: unknown): boolean => a === b;

export function codecFor(r: StateRegion, t: FieldType): Codec {
  switch (t.kind) {
    case "int32":
      return {
        read: (off) => Atomics.load(r.i32, off >> 2),
        write: (off, n, p) => void Atomics.add(r.i32, off >> 2, (n as number) - (p as number)),
        equal: same,
      };
    case "uint32":
      return {
        read: (off) => Atomics.load(r.u32, off >> 2),
        write: (off, n, p) => void Atomics.add(r.u32, off >> 2, (n as number) - (p as number)),
        equal: same,
      };
    case "int64":
      return {
        read: (off) => Atomics.load(r.i64, off >> 3),
        write: (off, n, p) => void Atomics.add(r.i64, off >> 3, BigInt.asIntN(64, (n as bigint) - (p as bigint))),
        equal: same,
      };
    case "uint64":
      return {
        read: (off) => Atomics.load(r.u64, off >> 3),
        write: (off, n, p) => void Atomics.add(r.u64, off >> 3, BigInt.asUintN(64, (n as bigint) - (p as bigint))),
        equal: same,
      };
    case "float64":
      return { read: (off) => r.f64[off >> 3] ?? 0, write: (off, n) => void (r.f64[off >> 3] = n as number), equal: same };
    case "boolean":
      return {
        read: (off) => Atomics.load(r.i32, off >> 2) !== 0,
        write: (off, n) => void Atomics.store(r.i32, off >> 2, n ? 1 : 0),
        equal: same,
      };
    case "enum": {
      const values = t.values;
      return {
        read: (off) => values[Atomics.load(r.u32, off >> 2)] ?? values[0],
        write: (off, n) => void Atomics.store(r.u32, off >> 2, Math.max(0, values.indexOf(n as string))),
        equal: same,
      };
    }
    case "string": {
      const max = t.maxBytes;
      return {
        read: (off) => {
          const len = Math.min(r.u32[off >> 2] ?? 0, max); // a torn length must not read past the field
          return r.bytes.utf8Slice(off + 4, off + 4 + len);
        },
        write: (off, n) => {
          r.u32[off >> 2] = writeUtf8(r, n as string, off + 4, max);
        },
        equal: same,
      };
    }
    case "array": {
      const el = codecFor(r, t.element);
      const stride = align8(sizeOf(t.element));
      const n = t.length;
      return {
        read: (off) => {
          const out = new Array(n);
          for (let i = 0; i < n; i++) out[i] = el.read(off + i * stride);
          return out;
        },
        write: (off, next, prev) => {
          const a = next as unknown[];
          const b = prev as unknown[];
          for (let i = 0; i < n; i++) if (!el.equal(a[i], b[i])) el.write(off + i * stride, a[i], b[i]);
        },
        equal: (a, b) => {
          for (let i = 0; i < n; i++) if (!el.equal((a as unknown[])[i], (b as unknown[])[i])) return false;
          return true;
        },
      };
    }
    case "object": {
      const offs = inlineOffsets(t);
      const fields = t.fields.map(([name, f], i) => ({ name, codec: codecFor(r, f), at: offs[i] ?? 0 }));
      return {
        read: (off) => {
          const out: Record<string, unknown> = {};
          for (const f of fields) out[f.name] = f.codec.read(off + f.at);
          return out;
        },
        write: (off, next, prev) => {
          const a = next as Record<string, unknown>;
          const b = prev as Record<string, unknown>;
          for (const f of fields) if (!f.codec.equal(a[f.name], b[f.name])) f.codec.write(off + f.at, a[f.name], b[f.name]);
        },
        equal: (a, b) => fields.every((f) => f.codec.equal((a as Record<string, unknown>)[f.name], (b as Record<string, unknown>)[f.name])),
      };
    }
  }
}

/**
 * zod counts string length in UTF-16 code units; a region stores UTF-8 bytes. Throws a
 * ZodError (like any other invalid value) when a string of a parsed value does not fit.
 */
export function checkStringBytes(t: FieldType, value: unknown, path: (string | number)[] = []): void {
  switch (t.kind) {
    case "string": {
      const bytes = Buffer.byteLength(value as string, "utf8");
      if (bytes > t.maxBytes)
        throw new z.ZodError([
          {
            code: "too_big",
            origin: "string",
            maximum: t.maxBytes,
            inclusive: true,
            path,
            input: value,
            message: `Too big: expected string to have <=${t.maxBytes} UTF-8 bytes, it has ${bytes}`,
          },
        ]);
      return;
    }
    case "array":
      (value as unknown[]).forEach((v, i) => checkStringBytes(t.element, v, [...path, i]));
      return;
    case "object":
      for (const [name, f] of t.fields) checkStringBytes(f, (value as Record<string, unknown>)[name], [...path, name]);
      return;
    default:
      return;
  }
}
