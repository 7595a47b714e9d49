// Views of values wider than a word (float64, strings, arrays, objects): written under the
// region lock with the undo journal, read under the seqlock so they are never seen torn.
// Also `viewAt`, which picks the view class for a field.
import { checkStringBytes, writeUtf8 } from "./codec.ts";
import { W_SEQ } from "./header.ts";
import { align8, inlineOffsets, sizeOf, type Entry } from "./layout.ts";
import { LocatedNode, type Node } from "./nodes.ts";
import type { StateRegion } from "./region.ts";
import type { FieldType } from "./schema.ts";
import { fastValid, utf8Length } from "./validate.ts";
import { BooleanView, EnumView, Int32View, Int64View, Uint32View } from "./word-views.ts";

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
