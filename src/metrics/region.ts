// The metrics region (layout.ts): created by the supervisor, opened by each generation, which
// claims one lane to count in. Only the supervisor reads totals, folds the lanes of processes
// that exited into the retired rows, and writes the reload and restart counters.
import { closeSync, fstatSync, openSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { allocateFile, mapShared, unmap, type Mapping } from "../../ffi/index.ts";
import { GLOBAL, type Geometry, LANES_PER_SLOT, layoutOf, MAGIC, RELOAD_BUCKETS, ROW, VERSION } from "./layout.ts";

/** Counters of one worker slot (retired + its lanes), as the text format shows them. */
export interface SlotTotals {
  readonly worker: number;
  /** Index 0 = 1xx … 4 = 5xx. */
  readonly requests: number[];
  /** Per bucket (not cumulative); the last is +Inf. */
  readonly buckets: number[];
  /** Seconds (kept as whole microseconds in the region). */
  readonly sum: number;
  readonly handedOver: number;
  readonly restarts: number;
}

export interface MetricsTotals {
  readonly slots: SlotTotals[];
  readonly reloadsOk: number;
  readonly reloadsFailed: number;
  readonly reloadBuckets: number[];
  readonly reloadSum: number;
}

/** A lane this process alone writes: `f64[base + ROW.x]`. */
export interface Lane {
  readonly f64: Float64Array;
  readonly base: number;
  readonly worker: number;
}

export class MetricsRegion {
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly layout: ReturnType<typeof layoutOf>;

  private constructor(
    private readonly mapping: Mapping,
    readonly geometry: Geometry,
    /** Kept open by a region made with `createUnlinked` (its only name is /proc/<pid>/fd/<fd>). */
    private readonly fd: number | null = null,
  ) {
    this.f64 = new Float64Array(mapping.buffer);
    this.i32 = new Int32Array(mapping.buffer);
    this.layout = layoutOf(geometry);
  }

  /**
   * Creates (or replaces) the region file at `path`, zeroed, mode 0600. Counters start at 0
   * with each supervisor: Prometheus reads a drop to 0 as a counter reset, as for any process.
   */
  static create(path: string, slots = 1, lanes = slots * LANES_PER_SLOT): MetricsRegion {
    const fd = createFile(path);
    try {
      return MetricsRegion.initialize(fd, { lanes, slots }, null);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Like `create`, then removes the file's name at once and keeps it open: other processes
   * open it as `sharedPath` (/proc/<pid>/fd/<fd>) while this process lives. Nothing in the
   * runtime dir can then truncate it under the mappings (a SIGBUS in every generation) or
   * delete it before the next generation boots.
   */
  static createUnlinked(dir: string, slots = 1, lanes = slots * LANES_PER_SLOT): MetricsRegion {
    const path = join(dir, `.metrics-${process.pid}.bin`);
    const fd = createFile(path);
    try {
      unlinkSync(path);
      return MetricsRegion.initialize(fd, { lanes, slots }, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static initialize(fd: number, geometry: Geometry, keep: number | null): MetricsRegion {
    const { bytes } = layoutOf(geometry);
    allocateFile(fd, 0, bytes);
    const r = new MetricsRegion(mapShared(fd, bytes), geometry, keep);
    r.i32[1] = VERSION;
    r.i32[2] = geometry.lanes;
    r.i32[3] = geometry.slots;
    Atomics.store(r.i32, 0, MAGIC); // last: an opener that sees the magic sees the rest
    return r;
  }

  /** The path another process opens this region by. */
  get sharedPath(): string {
    if (this.fd === null) throw new Error("sharedPath: this region was not made with createUnlinked");
    return `/proc/${process.pid}/fd/${this.fd}`;
  }

  /** Maps the region the supervisor created. Throws an Error saying what is wrong with the file. */
  static open(path: string): MetricsRegion {
    const fd = openSync(path, "r+");
    try {
      const size = fstatSync(fd).size;
      if (size < 32) throw new Error(`metrics region ${path} holds ${size} bytes: not a liveframe metrics region`);
      const head = mapShared(fd, 32);
      const h = new Int32Array(head.buffer);
      const [magic, version, lanes, slots] = [Atomics.load(h, 0), h[1]!, h[2]!, h[3]!];
      unmap(head);
      if (magic !== MAGIC || version !== VERSION) {
        throw new Error(`metrics region ${path} is not a version ${VERSION} liveframe metrics region (magic ${magic.toString(16)}, version ${version})`);
      }
      const geometry = { lanes, slots };
      const { bytes } = layoutOf(geometry);
      if (size < bytes) throw new Error(`metrics region ${path} holds ${size} bytes, its layout needs ${bytes}`);
      return new MetricsRegion(mapShared(fd, bytes), geometry);
    } finally {
      closeSync(fd);
    }
  }

  private ownerIndex(lane: number): number {
    return (this.layout.lanes + lane * this.layout.laneBytes) / 4;
  }

  private rowOfLane(lane: number): number {
    return (this.layout.lanes + lane * this.layout.laneBytes + 8) / 8;
  }

  private rowOfSlot(worker: number): number {
    return (this.layout.retired + worker * ROW.words * 8) / 8;
  }

  private get globalBase(): number {
    return this.layout.global / 8;
  }

  /**
   * Claims a free lane for process `pid` counting for worker slot `worker`. Returns null when
   * every lane is taken (the caller serves without metrics and says so).
   */
  claimLane(pid: number, worker: number): Lane | null {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.geometry.slots) {
      throw new Error(`worker slot ${worker} is outside this metrics region's ${this.geometry.slots} slots`);
    }
    for (let lane = 0; lane < this.geometry.lanes; lane++) {
      const o = this.ownerIndex(lane);
      if (Atomics.compareExchange(this.i32, o, 0, pid) !== 0) continue;
      Atomics.store(this.i32, o + 1, worker);
      return { f64: this.f64, base: this.rowOfLane(lane), worker };
    }
    return null;
  }

  /**
   * Moves the counts of every lane whose owner `isGone` into its slot's retired row and frees
   * the lane. Only the supervisor calls it, in one synchronous step with any read of the
   * totals, and only for processes that exited (nothing writes the lane meanwhile), so a
   * total never changes by folding.
   */
  foldLanes(isGone: (pid: number) => boolean): number {
    let folded = 0;
    for (let lane = 0; lane < this.geometry.lanes; lane++) {
      const o = this.ownerIndex(lane);
      const pid = Atomics.load(this.i32, o);
      if (pid === 0 || !isGone(pid)) continue;
      const worker = Math.min(Math.max(Atomics.load(this.i32, o + 1), 0), this.geometry.slots - 1);
      const from = this.rowOfLane(lane);
      const to = this.rowOfSlot(worker);
      for (let w = 0; w < ROW.words; w++) {
        this.f64[to + w]! += this.f64[from + w]!;
        this.f64[from + w] = 0;
      }
      Atomics.store(this.i32, o, 0);
      folded++;
    }
    return folded;
  }

  /** Supervisor: one reload ended after `seconds`. */
  recordReload(ok: boolean, seconds: number): void {
    const g = this.globalBase;
    this.f64[g + (ok ? GLOBAL.reloadsOk : GLOBAL.reloadsFailed)]! += 1;
    this.f64[g + GLOBAL.reloadBuckets + bucketOf(RELOAD_BUCKETS, seconds)]! += 1;
    this.f64[g + GLOBAL.reloadSum]! += Math.round(seconds * 1e6); // whole µs, as request sums
  }

  /** Supervisor: a crashed generation of worker slot `worker` is being restarted. */
  recordRestart(worker = 0): void {
    const w = Math.min(Math.max(worker, 0), this.geometry.slots - 1);
    this.f64[this.globalBase + GLOBAL.restarts + w]! += 1;
  }

  /** Retired rows plus every lane, per worker slot. */
  totals(): MetricsTotals {
    const { slots, lanes } = this.geometry;
    const rows = Array.from({ length: slots }, (_, w) => Array.from(this.f64.subarray(this.rowOfSlot(w), this.rowOfSlot(w) + ROW.words)));
    for (let lane = 0; lane < lanes; lane++) {
      const o = this.ownerIndex(lane);
      if (Atomics.load(this.i32, o) === 0) continue; // a free lane is all zeros
      const row = rows[Math.min(Math.max(Atomics.load(this.i32, o + 1), 0), slots - 1)]!;
      const from = this.rowOfLane(lane);
      for (let w = 0; w < ROW.words; w++) row[w]! += this.f64[from + w]!;
    }
    const g = this.globalBase;
    const nb = RELOAD_BUCKETS.length + 1;
    return {
      slots: rows.map((row, worker) => ({
        worker,
        requests: row.slice(ROW.requests, ROW.requests + 5),
        buckets: row.slice(ROW.buckets, ROW.sum),
        sum: row[ROW.sum]! / 1e6,
        handedOver: row[ROW.handedOver]!,
        restarts: this.f64[g + GLOBAL.restarts + worker]!,
      })),
      reloadsOk: this.f64[g + GLOBAL.reloadsOk]!,
      reloadsFailed: this.f64[g + GLOBAL.reloadsFailed]!,
      reloadBuckets: Array.from(this.f64.subarray(g + GLOBAL.reloadBuckets, g + GLOBAL.reloadBuckets + nb)),
      reloadSum: this.f64[g + GLOBAL.reloadSum]! / 1e6,
    };
  }

  /** Unmaps; the lane views handed out must not be used afterwards. */
  close(): void {
    unmap(this.mapping);
    if (this.fd !== null) closeSync(this.fd);
  }
}

/** A new file at `path` (a previous one there is replaced: a generation must never map a stale region), 0600. */
function createFile(path: string): number {
  try {
    unlinkSync(path);
  } catch {
    // none
  }
  return openSync(path, "wx+", 0o600);
}

/** Index of the first bucket whose bound is ≥ `value`; bounds.length for +Inf. */
export function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}
