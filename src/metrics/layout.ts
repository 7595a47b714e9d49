// The metrics region's fixed layout: one file under the runtime dir, mapped by the supervisor
// and by every generation. Every number is a float64 (exact up to 2^53: counts never wrap).
//
// A process that counts requests owns one *lane* (a row of counters nobody else writes), so
// the hot path is a plain `+=` on memory it alone writes: no atomics, no lock, and nothing is
// lost when a draining generation and the new one count at the same time. An aligned 8-byte
// store is single-copy atomic on x86-64 and arm64, so the supervisor never reads a torn value.
// When a process exits the supervisor folds its lane into the retired row of its worker slot
// and frees the lane: totals = retired + lanes, and they never go backwards.
//
//   header   8 × int32   magic, version, lanes, slots, (reserved)
//   global   f64         reloads ok, reloads failed, reload duration buckets…, sum, restarts[slots]
//   retired  slots × row
//   lanes    lanes × (owner pid int32, worker int32, row)
//   row      f64         requests by class 1xx..5xx, duration buckets…, duration sum (µs), handed over
// Sums are whole microseconds so that every value is an integer below 2^53: additions are
// exact, and a total does not depend on the order lanes are added in.

/** "LFMT" */
export const MAGIC = 0x544d464c;
export const VERSION = 1;

/**
 * Request duration bucket bounds, seconds. Prometheus' default buckets start at 5 ms, which
 * puts every request of a fast server in the first one; these add 100 µs … 2.5 ms below.
 */
export const REQUEST_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
/** Reload duration bucket bounds, seconds: a reload imports the app and hands over (100 ms … 2 min). */
export const RELOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;

/** Status classes counted: 1xx … 5xx. */
export const STATUS_CLASSES = 5;

/** Lanes when the caller names no count: generations alive at once on one worker slot (serving, new, draining ones) with room to spare. */
export const LANES_PER_SLOT = 16;

const HEADER_BYTES = 32;

/** Word offsets inside a row (float64 words). */
export const ROW = {
  requests: 0,
  buckets: STATUS_CLASSES,
  sum: STATUS_CLASSES + REQUEST_BUCKETS.length + 1,
  handedOver: STATUS_CLASSES + REQUEST_BUCKETS.length + 2,
  words: STATUS_CLASSES + REQUEST_BUCKETS.length + 3,
} as const;

/** Word offsets of the global section (float64 words, from the end of the header). */
export const GLOBAL = {
  reloadsOk: 0,
  reloadsFailed: 1,
  reloadBuckets: 2,
  reloadSum: 2 + RELOAD_BUCKETS.length + 1,
  restarts: 3 + RELOAD_BUCKETS.length + 1,
} as const;

export interface Geometry {
  readonly lanes: number;
  readonly slots: number;
}

/** Byte offsets of each part, for a region of `g.lanes` lanes and `g.slots` worker slots. */
export function layoutOf(g: Geometry) {
  const globalWords = GLOBAL.restarts + g.slots;
  const global = HEADER_BYTES;
  const retired = global + globalWords * 8;
  const laneBytes = 8 + ROW.words * 8;
  const lanes = retired + g.slots * ROW.words * 8;
  const bytes = lanes + g.lanes * laneBytes;
  return { global, retired, lanes, laneBytes, bytes } as const;
}
