// What an app may ask about the generation it runs in (the demo page shows it). Outside
// liveframe (plain `bun app.ts`) it reads generation 0 and underLiveframe false.

let adopted = 0;
let known = 0;

/**
 * Read when asked, not at import: a standby process imports this (with liveframe's runtime)
 * before it knows which generation it will be; it sets LIVEFRAME_GENERATION at boot, before
 * the app is imported. Once known, the number never changes.
 */
function number(): number {
  if (known > 0) return known;
  const n = Number(process.env.LIVEFRAME_GENERATION);
  if (Number.isInteger(n) && n > 0) known = n;
  return known;
}

/** A whole number from the environment at least `min`, else `fallback`. */
function envCount(name: string, min: number, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n >= min ? n : fallback;
}

export interface GenerationInfo {
  /** 1 for the first generation, +1 per successful reload or crash restart; 0 outside liveframe. */
  readonly number: number;
  readonly pid: number;
  /**
   * How many connections this generation has adopted from its predecessor in total: a
   * running count, not the number still open (adopted connections close as usual).
   */
  readonly adoptedConnections: number;
  /** True when started by a liveframe supervisor. */
  readonly underLiveframe: boolean;
  /**
   * This process's worker slot, 0 to workers - 1 (`--workers N`): the same slot keeps its
   * number across reloads and crash restarts. 0 outside liveframe.
   */
  readonly worker: number;
  /** Worker processes in each generation (`--workers`); 1 outside liveframe. */
  readonly workers: number;
}

export const generation: GenerationInfo = Object.freeze({
  get number() {
    return number();
  },
  pid: process.pid,
  get adoptedConnections() {
    return adopted;
  },
  get underLiveframe() {
    return number() > 0 && process.env.LIVEFRAME_RUNTIME_DIR !== undefined;
  },
  get worker() {
    return number() > 0 ? envCount("LIVEFRAME_WORKER", 0, 0) : 0;
  },
  get workers() {
    return number() > 0 ? envCount("LIVEFRAME_WORKERS", 1, 1) : 1;
  },
});

/** Called by the generation runtime when connections were adopted. Not for apps. */
export function noteAdopted(count: number): void {
  adopted += count;
}
