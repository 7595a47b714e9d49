// Views of single-word fields (integers, booleans, enums): read and written with Atomics and
// no lock. The hot path is one typed-array access plus a cheap check equivalent to the
// schema; zod only runs when that check fails (to throw its ZodError) or when the field has
// extra checks.
import type { z } from "zod";

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
