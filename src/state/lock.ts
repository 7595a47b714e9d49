// The cross-process lock of a region: a compare-and-swap of the owner's pid into a word of
// the mapping, a futex to sleep on when it is taken, and recovery when its holder died.
import * as fs from "node:fs";
import { threadId } from "node:worker_threads";
import { futexWait, futexWake, type Mapping } from "../../ffi/index.ts";
import { W_LOCK, W_LOCK_THREAD, W_SEQ, W_WAITERS } from "./header.ts";

/** Busy retries before sleeping: a holder keeps the lock for well under a microsecond. */
const SPIN_LIMIT = 64;
/** Longest single futex sleep: after it the holder's pid is checked again (did it die?). */
const WAIT_SLICE_MS = 10;

/**
 * True unless `pid` is certainly gone: kill(pid, 0) fails with ESRCH, or it is a zombie
 * (dead, its parent has not reaped it yet; kill still succeeds on those).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: trust kill
  }
}

export class RegionLock {
  /** True while this process (this thread) holds the lock. */
  held = false;
  private readonly me = process.pid;
  private readonly thread = threadId + 1; // 0 means "no owner thread recorded"

  constructor(
    private readonly words: Int32Array,
    private readonly mapping: Mapping,
    private readonly file: string,
    /** Repairs the region after a holder died (its pid, or 0 when only the odd seqlock tells). */
    private readonly onTakenOver: (deadPid: number) => void,
  ) {}

  acquire(): void {
    if (this.held)
      throw new Error(
        `state ${this.file}: the lock is already held by this process: set() or update() was called inside update(fn); change the draft instead`,
      );
    if (Atomics.compareExchange(this.words, W_LOCK, 0, this.me) === 0) {
      Atomics.store(this.words, W_LOCK_THREAD, this.thread);
      this.held = true;
    } else this.acquireSlow();
    // Holding the lock while the seqlock is odd: a writer died mid-write and whoever took
    // its lock over could not repair the region. Repair it now.
    if ((Atomics.load(this.words, W_SEQ) & 1) !== 0) this.repair(0);
  }

  private repair(deadPid: number): void {
    try {
      this.onTakenOver(deadPid);
    } catch (e) {
      this.release(); // never keep a lock we could not repair: the next taker tries again
      throw e;
    }
  }

  private acquireSlow(): void {
    const w = this.words;
    let spins = 0;
    for (;;) {
      const owner = Atomics.load(w, W_LOCK);
      if (owner === 0) {
        if (Atomics.compareExchange(w, W_LOCK, 0, this.me) === 0) break;
        continue;
      }
      if (spins++ < SPIN_LIMIT) continue;
      // Our own pid and thread while we do not hold it: left by an earlier process that had
      // our pid (the file outlived a reboot). Anyone else's: take over only once it is dead.
      const stale =
        owner === this.me ? Atomics.load(w, W_LOCK_THREAD) === this.thread : !processAlive(owner);
      if (stale) {
        if (Atomics.compareExchange(w, W_LOCK, owner, this.me) === owner) {
          Atomics.store(w, W_LOCK_THREAD, this.thread);
          this.held = true;
          this.repair(owner);
          return;
        }
        continue;
      }
      Atomics.add(w, W_WAITERS, 1);
      futexWait(this.mapping, W_LOCK * 4, owner, WAIT_SLICE_MS);
      Atomics.sub(w, W_WAITERS, 1);
    }
    Atomics.store(w, W_LOCK_THREAD, this.thread);
    this.held = true;
  }

  release(): void {
    this.held = false;
    Atomics.store(this.words, W_LOCK, 0);
    if (Atomics.load(this.words, W_WAITERS) > 0) futexWake(this.mapping, W_LOCK * 4, 1);
  }
}
