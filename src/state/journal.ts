// Writes under the lock, made safe for readers (a seqlock) and against a writer that dies
// half-way (an undo journal beside each entry).
//
// A write: seq += 1 (odd: readers retry) → for each entry: save its old bytes (or, for an
// integer, the delta about to be added) in its shadow, flag it, write → commit mark = 1 →
// clear the flags → commit mark = 0 → seq += 1 (even).
// Whoever takes the lock over from a dead writer calls `recover`: without the commit mark
// it puts back every flagged entry, with it the write was complete and only flags are
// cleared; then seq is made even again.
import { journalKindOf, type Entry } from "./layout.ts";
import { W_COMMIT, W_SEQ } from "./header.ts";

const SAVED = 1; // bytes entry: shadow holds the old bytes. Delta entry: delta recorded, not yet added.
const APPLIED = 2; // delta entry: the delta was added

export interface Words {
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly i64: BigInt64Array;
  readonly u64: BigUint64Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;
}

export class Journal {
  private readonly touched: Entry[] = [];
  private open = false;

  constructor(private readonly w: Words) {}

  /** Starts a write; the caller holds the lock. */
  begin(): void {
    this.open = true;
    Atomics.add(this.w.u32, W_SEQ, 1);
  }

  /** Saves the bytes of `e` once per write, before the first change to it. */
  saveBytes(e: Entry): void {
    const { i32, u8 } = this.w;
    const flag = e.journal >> 2;
    if (Atomics.load(i32, flag) !== 0) return;
    u8.copyWithin(e.journal + 8, e.offset, e.offset + e.size);
    Atomics.store(i32, flag, SAVED);
    this.touched.push(e);
  }

  /** Adds `delta` to a 32-bit integer entry, journaled so that a dead writer's add is undone. */
  addDelta32(e: Entry, delta: number, unsigned: boolean): void {
    const { i32, u32, f64 } = this.w;
    const flag = e.journal >> 2;
    f64[(e.journal + 8) >> 3] = delta;
    Atomics.store(i32, flag, SAVED);
    if (unsigned) Atomics.add(u32, e.offset >> 2, delta);
    else Atomics.add(i32, e.offset >> 2, delta);
    Atomics.store(i32, flag, APPLIED);
    this.touched.push(e);
  }

  /** Same for a 64-bit integer entry. */
  addDelta64(e: Entry, delta: bigint, unsigned: boolean): void {
    const { i32, i64, u64 } = this.w;
    const flag = e.journal >> 2;
    i64[(e.journal + 8) >> 3] = BigInt.asIntN(64, delta);
    Atomics.store(i32, flag, SAVED);
    if (unsigned) Atomics.add(u64, e.offset >> 3, BigInt.asUintN(64, delta));
    else Atomics.add(i64, e.offset >> 3, delta);
    Atomics.store(i32, flag, APPLIED);
    this.touched.push(e);
  }

  /** Makes the write visible as a whole. */
  commit(): void {
    const { i32, u32 } = this.w;
    Atomics.store(u32, W_COMMIT, 1);
    for (const e of this.touched) Atomics.store(i32, e.journal >> 2, 0);
    this.touched.length = 0;
    Atomics.store(u32, W_COMMIT, 0);
    Atomics.add(u32, W_SEQ, 1);
    this.open = false;
  }

  /** Undoes this process's unfinished write (an exception in the middle of it). */
  abort(): void {
    if (!this.open) return;
    for (const e of this.touched) undo(this.w, e);
    this.touched.length = 0;
    Atomics.add(this.w.u32, W_SEQ, 1);
    this.open = false;
  }
}

function undo(w: Words, e: Entry): void {
  const flag = Atomics.load(w.i32, e.journal >> 2);
  if (flag === 0) return;
  const shadow = e.journal + 8;
  switch (journalKindOf(e.type)) {
    case "bytes":
      if (flag === SAVED) w.u8.copyWithin(e.offset, shadow, shadow + e.size);
      break;
    case "delta32":
      if (flag === APPLIED) Atomics.sub(w.i32, e.offset >> 2, w.f64[shadow >> 3] ?? 0);
      break;
    case "deltaU32":
      if (flag === APPLIED) Atomics.sub(w.u32, e.offset >> 2, w.f64[shadow >> 3] ?? 0);
      break;
    case "delta64":
      if (flag === APPLIED) Atomics.sub(w.i64, e.offset >> 3, w.i64[shadow >> 3] ?? 0n);
      break;
    case "deltaU64":
      if (flag === APPLIED) Atomics.sub(w.u64, e.offset >> 3, BigInt.asUintN(64, w.i64[shadow >> 3] ?? 0n));
      break;
  }
  Atomics.store(w.i32, e.journal >> 2, 0);
}

/**
 * Repairs the region after its lock was taken over from a dead holder. `entries` is the
 * whole layout directory (every field any schema put there). Returns how many entries
 * were rolled back.
 */
export function recover(w: Words, entries: readonly Entry[]): number {
  const complete = Atomics.load(w.u32, W_COMMIT) === 1;
  let rolledBack = 0;
  for (const e of entries) {
    if (Atomics.load(w.i32, e.journal >> 2) === 0) continue;
    if (complete) Atomics.store(w.i32, e.journal >> 2, 0);
    else {
      undo(w, e);
      rolledBack++;
    }
  }
  Atomics.store(w.u32, W_COMMIT, 0);
  if ((Atomics.load(w.u32, W_SEQ) & 1) === 1) Atomics.add(w.u32, W_SEQ, 1);
  return rolledBack;
}
