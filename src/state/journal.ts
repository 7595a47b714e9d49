// Writes under the lock, made safe for readers (a seqlock) and against a writer that dies
// half-way (an undo journal beside each entry).
//
// A write: seq += 1 (odd: readers retry) → for each entry: save its old bytes (or, for an
// integer, the delta about to be added) in its shadow, flag it, write → commit mark = 1 →
// clear the flags → commit mark = 0 → seq += 1 (even).
// Whoever takes the lock over from a dead writer (or finds the seqlock odd) calls `recover`:
// without the commit mark it puts back every flagged entry, with it the write was complete
// and only flags are cleared; then seq is made even again. Integer entries are undone by
// subtracting the delta, and only if it was really added (see addDelta32/addDelta64), so
// lock-free adds made meanwhile by other processes are kept.
import { journalKindOf, type Entry } from "./layout.ts";
import { W_COMMIT, W_SEQ } from "./header.ts";

const SAVED = 1; // bytes entry: shadow holds the old bytes. Delta entry: recorded, maybe added.
const APPLIED = 2; // delta entry: the delta was certainly added

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
  private txid = 0;
  private tag: bigint | undefined; // txid << 32, made on first use in a write

  constructor(private readonly w: Words) {}

  /** Starts a write; the caller holds the lock. */
  begin(): void {
    this.open = true;
    // The odd seqlock value names this write: it only grows (mod 2^32), so it tags what
    // this write applied (see addDelta32).
    this.txid = Atomics.add(this.w.u32, W_SEQ, 1) + 1;
    this.tag = undefined;
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

  /**
   * Adds `delta` to a 32-bit integer entry so that a dead writer's add can be told from one
   * it never made: the value and the 4 padding bytes after it form one 64-bit word, and one
   * compare-and-swap adds the delta AND writes this write's id into the padding. Lock-free
   * add() only touches the low half, so it is never lost.
   */
  addDelta32(e: Entry, delta: number, unsigned: boolean): void {
    const { i32, u32, f64, u64 } = this.w;
    const flag = e.journal >> 2;
    f64[(e.journal + 8) >> 3] = delta;
    Atomics.store(u32, (e.journal + 4) >> 2, this.txid);
    Atomics.store(i32, flag, SAVED);
    const tag = (this.tag ??= BigInt(this.txid) << 32n);
    const at = e.offset >> 3;
    for (;;) {
      const word = Atomics.load(u64, at);
      const next = (Number(BigInt.asUintN(32, word)) + delta) >>> 0; // the same bits signed or not
      if (Atomics.compareExchange(u64, at, word, tag | BigInt(next)) === word) break;
    }
    Atomics.store(i32, flag, APPLIED);
    this.touched.push(e);
  }

  /**
   * Same for a 64-bit integer entry, which has no room for a tag: the journal keeps the old
   * value, and the add is one compare-and-swap from it (see undo for what that allows).
   */
  addDelta64(e: Entry, delta: bigint, unsigned: boolean): void {
    const { i32, i64, u64 } = this.w;
    const flag = e.journal >> 2;
    const shadow = (e.journal + 8) >> 3;
    const a = unsigned ? u64 : i64;
    i64[shadow] = BigInt.asIntN(64, delta);
    for (;;) {
      const old = Atomics.load(a, e.offset >> 3);
      a[shadow + 1] = old;
      Atomics.store(i32, flag, SAVED);
      const next = unsigned ? BigInt.asUintN(64, old + delta) : BigInt.asIntN(64, old + delta);
      if (Atomics.compareExchange(a, e.offset >> 3, old, next) === old) break;
    }
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
  const kind = journalKindOf(e.type);
  switch (kind) {
    case "bytes":
      if (flag === SAVED) w.u8.copyWithin(e.offset, shadow, shadow + e.size);
      break;
    case "delta32":
    case "deltaU32": {
      // Applied exactly when the value's padding carries the id of the dead write.
      const txid = Atomics.load(w.u32, (e.journal + 4) >> 2);
      if (Atomics.load(w.u32, (e.offset + 4) >> 2) === txid) {
        const delta = w.f64[shadow >> 3] ?? 0;
        if (kind === "delta32") Atomics.sub(w.i32, e.offset >> 2, delta);
        else Atomics.sub(w.u32, e.offset >> 2, delta);
        Atomics.store(w.u32, (e.offset + 4) >> 2, 0);
      }
      break;
    }
    case "delta64":
    case "deltaU64": {
      const a = kind === "delta64" ? w.i64 : w.u64;
      const wrap = (v: bigint) => (kind === "delta64" ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));
      const delta = w.i64[shadow >> 3] ?? 0n;
      const at = e.offset >> 3;
      if (flag === APPLIED) {
        Atomics.sub(a, at, wrap(delta));
        break;
      }
      // SAVED: the compare-and-swap may or may not have happened. If the value is still the
      // old one it did not; if it is old + delta it did (undo it). Anything else means
      // lock-free adds came after it: the delta cannot be told apart and is left in place.
      const old = a[(shadow >> 3) + 1] ?? 0n;
      Atomics.compareExchange(a, at, wrap(old + delta), old);
      break;
    }
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
