// Where each field lives in the region. Top-level fields and fields of nested objects are
// "entries" (one per leaf path, e.g. `user.name`), each with its own offset so that a new
// schema can append fields without moving the old ones. An array is one entry whose
// elements follow each other at a fixed stride.
//
// Every entry is followed by its journal: a flag word, a write id and a shadow of the value.
// A 32-bit integer's value is followed by 4 bytes of padding that journal.ts uses as a tag. A
// writer fills the shadow before it touches the value, so a writer that dies mid-write
// can be rolled back by whoever takes the lock next (see journal.ts).
import type { FieldType } from "./schema.ts";

/** The string that identifies a field's type in the layout directory; equal strings = same layout. */
export function describe(t: FieldType): string {
  switch (t.kind) {
    case "enum":
      return `enum${JSON.stringify(t.values)}`;
    case "string":
      return `string(${t.maxBytes})`;
    case "array":
      return `array(${t.length},${describe(t.element)})`;
    case "object":
      return `object{${t.fields.map(([k, f]) => `${JSON.stringify(k)}:${describe(f)}`).join(",")}}`;
    default:
      return t.kind;
  }
}

export const align8 = (n: number): number => (n + 7) & ~7;

/** Bytes a value of this type occupies (objects and arrays: their elements, each 8-aligned). */
export function sizeOf(t: FieldType): number {
  switch (t.kind) {
    case "int32":
    case "uint32":
    case "boolean":
    case "enum":
      return 4;
    case "float64":
    case "int64":
    case "uint64":
      return 8;
    case "string":
      return 4 + t.maxBytes; // u32 byte length, then the UTF-8 bytes
    case "array":
      return t.length * align8(sizeOf(t.element));
    case "object":
      return t.fields.reduce((sum, [, f]) => sum + align8(sizeOf(f)), 0);
  }
}

/** Offset of each field inside an object laid out inline (inside an array element). */
export function inlineOffsets(t: FieldType & { kind: "object" }): number[] {
  const out: number[] = [];
  let at = 0;
  for (const [, f] of t.fields) {
    out.push(at);
    at += align8(sizeOf(f));
  }
  return out;
}

/**
 * How a journal undoes a half-done write of this entry: integers are changed by atomic
 * adds inside `update` (so that concurrent lock-free adds are never lost) and are rolled
 * back by subtracting the delta; everything else by copying the old bytes back.
 */
export type JournalKind = "delta32" | "deltaU32" | "delta64" | "deltaU64" | "bytes";

export function journalKindOf(type: string): JournalKind {
  switch (type) {
    case "int32":
      return "delta32";
    case "uint32":
      return "deltaU32";
    case "int64":
      return "delta64";
    case "uint64":
      return "deltaU64";
    default:
      return "bytes";
  }
}

/** One leaf of the layout directory. */
export interface Entry {
  readonly path: string;
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly journal: number;
}

export interface Leaf {
  readonly path: string;
  readonly field: FieldType;
}

/** Flattens nested objects into leaf paths (`user.name`); arrays stay one leaf. */
export function leavesOf(root: FieldType & { kind: "object" }, prefix = ""): Leaf[] {
  const out: Leaf[] = [];
  for (const [name, f] of root.fields) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (f.kind === "object") out.push(...leavesOf(f, path));
    else out.push({ path, field: f });
  }
  return out;
}

/**
 * Bytes an entry needs, value and journal together. Journal: a flag word and a word for
 * the id of the write, then the shadow: the old bytes, or for integers the delta (and,
 * for 64-bit ones, the old value).
 */
export function entryBytes(size: number, type: string): number {
  const kind = journalKindOf(type);
  const shadow = kind === "bytes" ? align8(size) : kind === "delta64" || kind === "deltaU64" ? 16 : 8;
  return align8(size) + 8 + shadow;
}

/** Lays out `leaves` one after the other from `start` (8-aligned). Returns the entries and the end. */
export function allocate(leaves: readonly Leaf[], start: number): { entries: Entry[]; end: number } {
  let at = align8(start);
  const entries: Entry[] = [];
  for (const { path, field } of leaves) {
    const type = describe(field);
    const size = sizeOf(field);
    entries.push({ path, type, offset: at, size, journal: at + align8(size) });
    at += entryBytes(size, type);
  }
  return { entries, end: at };
}
