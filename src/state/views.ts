// Typed views over a mapped region. Integer, boolean and enum fields are single words read
// and written with Atomics and no lock: the hot path is a bounds-free typed-array access
// plus a cheap check equivalent to the schema (zod only runs when that check fails or
// the field has extra checks). Other fields are written under the region lock and read
// under the seqlock.
import type { z } from "zod";
import { checkStringBytes, codecFor, writeUtf8, type Codec } from "./codec.ts";
import { W_SEQ } from "./header.ts";
import { fastValid, utf8Length } from "./validate.ts";
import { align8, inlineOffsets, sizeOf, type Entry } from "./layout.ts";
import type { StateRegion } from "./region.ts";
import type { FieldType } from "./schema.ts";

/** Reads and writes a whole value at one place of the region, journaled. */
export interface Node {
  read(): unknown;
  write(next: unknown, prev: unknown): void;
}

/** A value stored at `off`, inside the journal entry `entry` (the entry itself, or the array holding it). */
export class LocatedNode implements Node {
  private readonly codec: Codec;
  private readonly delta: "i32" | "u32" | "i64" | "u64" | null;
  constructor(
    private readonly r: StateRegion,
    field: FieldType,
    private readonly entry: Entry,
    private readonly off: number,
  ) {
    this.codec = codecFor(r, field);
    const own = off === entry.offset;
    const k = field.kind;
    this.delta = !own ? null : k === "int32" ? "i32" : k === "uint32" ? "u32" : k === "int64" ? "i64" : k === "uint64" ? "u64" : null;
  }
  read(): unknown {
    return this.codec.read(this.off);
  }
  write(next: unknown, prev: unknown): void {
    if (this.codec.equal(next, prev)) return;
    const j = this.r.journal;
    switch (this.delta) {
      case "i32":
        return j.addDelta32(this.entry, (next as number) - (prev as number), false);
      case "u32":
        return j.addDelta32(this.entry, (next as number) - (prev as number), true);
      case "i64":
        return j.addDelta64(this.entry, (next as bigint) - (prev as bigint), false);
      case "u64":
        return j.addDelta64(this.entry, (next as bigint) - (prev as bigint), true);
      default:
        j.saveBytes(this.entry);
        this.codec.write(this.off, next, prev);
    }
  }
}

/** An object whose fields are separate entries (a nested z.object outside arrays). */
export class FlatObjectNode implements Node {
  private readonly keys: string[];
  private readonly nodes: Node[];
  constructor(children: readonly (readonly [string, Node])[]) {
    this.keys = children.map(([k]) => k);
    this.nodes = children.map(([, n]) => n);
  }
  read(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const { keys, nodes } = this;
    for (let i = 0; i < keys.length; i++) out[keys[i]!] = nodes[i]!.read();
    return out;
  }
  write(next: unknown, prev: unknown): void {
    const a = next as Record<string, unknown>;
    const b = prev as Record<string, unknown>;
    const { keys, nodes } = this;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      nodes[i]!.write(a[k], b[k]);
    }
  }
}

export class Int32View {
  constructor(
    private readonly a: Int32Array,
    private readonly i: number,
    private readonly schema: z.ZodType,
    private readonly plain: boolean,
  ) {}
  get(): number {
    return Atomics.load(this.a, this.i);
  }
  set(value: number): void {
    if (!(this.plain && (value | 0) === value)) this.schema.parse(value);
    Atomics.store(this.a, this.i, value);
  }
  /** Atomically adds `delta`; returns the new value. A result the schema refuses throws a ZodError and changes nothing. */
  add(delta: number): number {
    if (!Number.isInteger(delta)) throw new TypeError(`add(delta): delta must be an integer, got ${delta}`);
    const a = this.a;
    const i = this.i;
    for (;;) {
      const old = Atomics.load(a, i);
      const next = old + delta;
      if (!(this.plain && (next | 0) === next)) this.schema.parse(next);
      if (Atomics.compareExchange(a, i, old, next) === old) return next;
    }
  }
  /** Stores `value` if the field holds `expected`; returns what the field held (like Atomics.compareExchange). */
  compareExchange(expected: number, value: number): number {
    if (!(this.plain && (value | 0) === value)) this.schema.parse(value);
    return Atomics.compareExchange(this.a, this.i, expected, value);
  }
}

export class Uint32View {
  constructor(
    private readonly a: Uint32Array,
    private readonly i: number,
    private readonly schema: z.ZodType,
    private readonly plain: boolean,
  ) {}
  get(): number {
    return Atomics.load(this.a, this.i);
  }
  set(value: number): void {
    if (!(this.plain && value >>> 0 === value)) this.schema.parse(value);
    Atomics.store(this.a, this.i, value);
  }
  add(delta: number): number {
    if (!Number.isInteger(delta)) throw new TypeError(`add(delta): delta must be an integer, got ${delta}`);
    const a = this.a;
    const i = this.i;
    for (;;) {
      const old = Atomics.load(a, i);
      const next = old + delta;
      if (!(this.plain && next >>> 0 === next)) this.schema.parse(next);
      if (Atomics.compareExchange(a, i, old, next) === old) return next;
    }
  }
  compareExchange(expected: number, value: number): number {
    if (!(this.plain && value >>> 0 === value)) this.schema.parse(value);
    return Atomics.compareExchange(this.a, this.i, expected, value);
  }
}

export class Int64View {
  constructor(
    private readonly a: BigInt64Array | BigUint64Array,
    private readonly i: number,
    private readonly schema: z.ZodType,
    private readonly plain: boolean,
    private readonly unsigned: boolean,
  ) {}
  private fits(v: unknown): boolean {
    return typeof v === "bigint" && (this.unsigned ? BigInt.asUintN(64, v) === v : BigInt.asIntN(64, v) === v);
  }
  get(): bigint {
    return Atomics.load(this.a, this.i);
  }
  set(value: bigint): void {
    if (!(this.plain && this.fits(value))) this.schema.parse(value);
    Atomics.store(this.a, this.i, value);
  }
  add(delta: bigint): bigint {
    if (typeof delta !== "bigint") throw new TypeError(`add(delta): delta must be a bigint, got ${typeof delta}`);
    for (;;) {
      const old = Atomics.load(this.a, this.i);
      const next = old + delta;
      if (!(this.plain && this.fits(next))) this.schema.parse(next);
      if (Atomics.compareExchange(this.a, this.i, old, next) === old) return next;
    }
  }
  compareExchange(expected: bigint, value: bigint): bigint {
    if (!(this.plain && this.fits(value))) this.schema.parse(value);
    return Atomics.compareExchange(this.a, this.i, expected, value);
  }
}

export class BooleanView {
  constructor(
    private readonly a: Int32Array,
    private readonly i: number,
    private readonly schema: z.ZodType,
    private readonly plain: boolean,
  ) {}
  get(): boolean {
    return Atomics.load(this.a, this.i) !== 0;
  }
  set(value: boolean): void {
    if (!(this.plain && typeof value === "boolean")) this.schema.parse(value);
    Atomics.store(this.a, this.i, value ? 1 : 0);
  }
}

export class EnumView {
  private readonly index: Map<unknown, number>;
  constructor(
    private readonly a: Uint32Array,
    private readonly i: number,
    private readonly values: readonly string[],
    private readonly schema: z.ZodType,
    private readonly plain: boolean,
  ) {
    this.index = new Map(values.map((v, n) => [v, n]));
  }
  get(): string {
    return this.values[Atomics.load(this.a, this.i)] ?? (this.values[0] as string);
  }
  set(value: string): void {
    const n = this.index.get(value);
    if (n === undefined || !this.plain) this.schema.parse(value);
    Atomics.store(this.a, this.i, n ?? 0);
  }
}

/** A value read under the seqlock and written under the lock: float64, string, arrays, objects. */
export class LockedView {
  constructor(
    protected readonly r: StateRegion,
    protected readonly node: Node,
    protected readonly field: FieldType,
  ) {}
  get(): unknown {
    return this.r.readStable(() => this.node.read());
  }
  set(value: unknown): void {
    const f = this.field;
    let v = value;
    if (!fastValid(f, v)) {
      v = f.schema.parse(v);
      checkStringBytes(f, v);
    }
    this.r.transaction(() => this.node.write(v, this.node.read()));
  }
}

/** A string: the hot paths are written out (no closures, no zod for a plain .max(n)). */
export class StringView {
  private readonly max: number;
  constructor(
    private readonly r: StateRegion,
    private readonly field: FieldType & { kind: "string" },
    private readonly entry: Entry,
    private readonly off: number,
  ) {
    this.max = field.maxBytes;
  }
  get(): string {
    const r = this.r;
    const u32 = r.u32;
    const at = this.off;
    for (let spins = 0; ; spins++) {
      const s = Atomics.load(u32, W_SEQ);
      if ((s & 1) === 0 || r.lock.held) {
        const v = this.raw(at);
        if (Atomics.load(u32, W_SEQ) === s) return v;
      } else if (spins > 100) return r.readStable(() => this.raw(at)); // waits for (or recovers) the writer
    }
  }
  private raw(at: number): string {
    const len = Math.min(this.r.u32[at >> 2] ?? 0, this.max); // a torn length must not read past the field
    return this.r.bytes.utf8Slice(at + 4, at + 4 + len);
  }
  set(value: string): void {
    const f = this.field;
    if (!(f.plain && typeof value === "string" && value.length <= this.max && utf8Length(value) <= this.max)) {
      f.schema.parse(value);
      checkStringBytes(f, value);
    }
    const r = this.r;
    r.lock.acquire();
    try {
      r.journal.begin();
      r.journal.saveBytes(this.entry);
      r.u32[this.off >> 2] = writeUtf8(r, value, this.off + 4, this.max);
      r.journal.commit();
    } finally {
      r.lock.release();
    }
  }
}

export class Float64View {
  constructor(
    private readonly r: StateRegion,
    private readonly field: FieldType,
    private readonly entry: Entry,
    private readonly i: number,
  ) {}
  get(): number {
    const r = this.r;
    const u32 = r.u32;
    for (let spins = 0; ; spins++) {
      const s = Atomics.load(u32, W_SEQ);
      if ((s & 1) === 0 || r.lock.held) {
        const v = r.f64[this.i] as number;
        if (Atomics.load(u32, W_SEQ) === s) return v;
      } else if (spins > 100) return r.readStable(() => r.f64[this.i] as number);
    }
  }
  set(value: number): void {
    if (!(this.field.plain && typeof value === "number" && value >= -MAX_F64 && value <= MAX_F64)) this.field.schema.parse(value);
    const r = this.r;
    r.lock.acquire();
    try {
      r.journal.begin();
      r.journal.saveBytes(this.entry);
      r.f64[this.i] = value;
      r.journal.commit();
    } finally {
      r.lock.release();
    }
  }
  /** Adds `delta` under the lock (a float has no atomic add); returns the new value. */
  add(delta: number): number {
    let out = 0;
    this.r.transaction(() => {
      const old = this.r.f64[this.i] as number;
      out = old + delta;
      if (!fastValid(this.field, out)) this.field.schema.parse(out);
      this.r.journal.saveBytes(this.entry);
      this.r.f64[this.i] = out;
    });
    return out;
  }
  compareExchange(expected: number, value: number): number {
    if (!fastValid(this.field, value)) this.field.schema.parse(value);
    let old = 0;
    this.r.transaction(() => {
      old = this.r.f64[this.i] as number;
      if (old === expected) {
        this.r.journal.saveBytes(this.entry);
        this.r.f64[this.i] = value;
      }
    });
    return old;
  }
}

const MAX_F64 = Number.MAX_VALUE;

export class ArrayView extends LockedView {
  private readonly elements: unknown[];
  constructor(
    r: StateRegion,
    node: Node,
    field: FieldType & { kind: "array" },
    private readonly entry: Entry,
    private readonly off: number,
  ) {
    super(r, node, field);
    this.elements = new Array(field.length);
  }
  get length(): number {
    return (this.field as FieldType & { kind: "array" }).length;
  }
  /** The view of element `i` (an integer element has lock-free add, like a field). */
  at(i: number): unknown {
    const f = this.field as FieldType & { kind: "array" };
    if (!Number.isInteger(i) || i < 0 || i >= f.length)
      throw new RangeError(`at(${i}): index out of range, the array has length ${f.length}`);
    return (this.elements[i] ??= viewAt(this.r, f.element, this.entry, this.off + i * align8(sizeOf(f.element))));
  }
}

/** A nested object: its fields as properties, plus get()/set() of the whole. */
export class ObjectView extends LockedView {}

/** The view of a value located at `off` inside journal entry `entry`. */
export function viewAt(r: StateRegion, f: FieldType, entry: Entry, off: number): unknown {
  switch (f.kind) {
    case "int32":
      return new Int32View(r.i32, off >> 2, f.schema, f.plain);
    case "uint32":
      return new Uint32View(r.u32, off >> 2, f.schema, f.plain);
    case "int64":
      return new Int64View(r.i64, off >> 3, f.schema, f.plain, false);
    case "uint64":
      return new Int64View(r.u64, off >> 3, f.schema, f.plain, true);
    case "boolean":
      return new BooleanView(r.i32, off >> 2, f.schema, f.plain);
    case "enum":
      return new EnumView(r.u32, off >> 2, f.values, f.schema, f.plain);
    case "float64":
      return new Float64View(r, f, entry, off >> 3);
    case "string":
      return new StringView(r, f, entry, off);
    case "array":
      return new ArrayView(r, new LocatedNode(r, f, entry, off), f, entry, off);
    case "object": {
      const view = new ObjectView(r, new LocatedNode(r, f, entry, off), f);
      const offs = inlineOffsets(f);
      f.fields.forEach(([name, child], i) => {
        Object.defineProperty(view, name, { value: viewAt(r, child, entry, off + (offs[i] ?? 0)), enumerable: true });
      });
      return view;
    }
  }
}
