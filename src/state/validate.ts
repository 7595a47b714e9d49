// Cheap validity checks that agree with the schema for "plain" fields (no extra zod checks),
// so the hot paths need not run zod. `true` means the schema would accept the value;
// `false` means "ask zod" (which throws the ZodError, or accepts what only zod can judge).
import type { FieldType } from "./schema.ts";

const MAX_F64 = Number.MAX_VALUE;

/** UTF-8 length of `s` (what a region stores), without allocating. */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2; // a surrogate pair: 2 code units, 4 bytes
        i++;
      } else bytes += 2; // a lone surrogate is stored as U+FFFD: 3 bytes
    } else bytes += 2;
  }
  return bytes;
}

export function fastValid(t: FieldType, v: unknown): boolean {
  if (!t.plain) return false;
  switch (t.kind) {
    case "int32":
      return typeof v === "number" && (v | 0) === v;
    case "uint32":
      return typeof v === "number" && v >>> 0 === v;
    case "int64":
      return typeof v === "bigint" && BigInt.asIntN(64, v) === v;
    case "uint64":
      return typeof v === "bigint" && BigInt.asUintN(64, v) === v;
    case "float64":
      return typeof v === "number" && v >= -MAX_F64 && v <= MAX_F64;
    case "boolean":
      return typeof v === "boolean";
    case "enum":
      return typeof v === "string" && t.values.includes(v);
    case "string":
      // UTF-8 bytes >= UTF-16 code units, so this also satisfies zod's .max(n).
      return typeof v === "string" && utf8Length(v) <= t.maxBytes;
    case "array": {
      if (!Array.isArray(v) || v.length !== t.length) return false;
      for (let i = 0; i < v.length; i++) if (!fastValid(t.element, v[i])) return false;
      return true;
    }
    case "object": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
      const o = v as Record<string, unknown>;
      const fields = t.fields;
      for (let i = 0; i < fields.length; i++) {
        const [k, f] = fields[i]!;
        if (!fastValid(f, o[k])) return false;
      }
      return true;
    }
  }
}

/** A deep copy of a value read from a region (plain objects, arrays, primitives only). */
export function copyValue<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copyValue) as T;
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      out[k] = copyValue((v as Record<string, unknown>)[k]);
    }
    return out as T;
  }
  return v;
}

/** `fastValid` specialised for one field type once, for the update() path. */
export function compileValidator(t: FieldType): (v: unknown) => boolean {
  if (!t.plain) return () => false;
  switch (t.kind) {
    case "array": {
      const el = compileValidator(t.element);
      const n = t.length;
      return (v) => {
        if (!Array.isArray(v) || v.length !== n) return false;
        for (let i = 0; i < n; i++) if (!el(v[i])) return false;
        return true;
      };
    }
    case "object": {
      const keys = t.fields.map(([k]) => k);
      const checks = t.fields.map(([, f]) => compileValidator(f));
      return (v) => {
        if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
        const o = v as Record<string, unknown>;
        for (let i = 0; i < keys.length; i++) if (!checks[i]!(o[keys[i]!])) return false;
        return true;
      };
    }
    default:
      return (v) => fastValid(t, v);
  }
}

/** A deep copy function for values of one field type (what a region read returns). */
export function compileCopier(t: FieldType): (v: unknown) => unknown {
  switch (t.kind) {
    case "array": {
      const el = compileCopier(t.element);
      const n = t.length;
      return (v) => {
        const a = v as unknown[];
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = el(a[i]);
        return out;
      };
    }
    case "object": {
      const keys = t.fields.map(([k]) => k);
      const copies = t.fields.map(([, f]) => compileCopier(f));
      return (v) => {
        const o = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          out[k] = copies[i]!(o[k]);
        }
        return out;
      };
    }
    default:
      return (v) => v;
  }
}
