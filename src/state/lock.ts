// The cross-process lock of a region: a compare-and-swap of the owner's pid into a word of
// the mapping (its start time beside it), a futex to sleep on when it is taken, recovery
// when its holder died, and a bounded wait: state's API is synchronous, so a wait blocks the
// event loop, and a holder that never lets go must become an error, not a hung server.
import { threadId } from "node:worker_threads";
import { futexWait, futexWake, type Mapping } from "../../ffi/index.ts";
import { W_LOCK, W_LOCK_START, W_LOCK_THREAD, W_SEQ, W_WAITERS } from "./header.ts";
import { describeCommand, describeStart, holderAlive, processStart, type Holder } from "./holder.ts";

export { processAlive } from "./holder.ts";

/** Busy retries before sleeping: a holder keeps the lock for well under a microsecond. */
const SPIN_LIMIT = 64;
/** Longest single futex sleep: after it the holder is checked again (did it die?). */
const WAIT_SLICE_MS = 10;
/**
 * How long a caller waits for a live holder before the call fails. A holder keeps the lock
 * for microseconds (an update(fn) of a large state: a few milliseconds); two seconds of
 * waiting means it is stopped or stuck, and every second waited is a second this process's
 * event loop serves nobody.
 */
export const DEFAULT_LOCK_TIMEOUT_MS = 2_000;

/** The lock stayed with a live holder for longer than the wait limit. */
export class StateLockTimeoutError extends Error {
  readonly holderPid: number;
  constructor(file: string, holder: Holder, waitedMs: number, again: boolean) {
    const cmd = describeCommand(holder.pid);
    super(
      `state lock of ${file} held by pid ${holder.pid} (${describeStart(holder.pid)}${cmd ? `: ${cmd}` : ""}) ` +
        `${again ? "is still not released (it timed out before)" : `was not released within ${(waitedMs / 1000).toFixed(1)} s`}: ` +
        `that process is stopped or stuck inside update(fn). Resume or end it (kill ${holder.pid}): ` +
        `the lock is taken over as soon as it has exited`,
    );
    this.name = "StateLockTimeoutError";
    this.holderPid = holder.pid;
  }
}

export class RegionLock {
  /** True while this process (this thread) holds the lock. */
  held = false;
  private readonly me = process.pid;
  private readonly myStart = processStart(process.pid);
  private readonly thread = threadId + 1; // 0 means "no owner thread recorded"
  /** A live holder we already waited out: later waits on it give up after one slice. */
  private stuck: Holder | null = null;

  constructor(
    private readonly words: Int32Array,
    private readonly mapping: Mapping,
    private readonly file: string,
    /** Repairs the region after a holder died (its pid, or 0 when only the odd seqlock tells). */
    private readonly onTakenOver: (deadPid: number) => void,
    /** Inode of the file mapped: a live holder has it mapped. */
    private readonly inode: () => number = () => 0,
    private readonly timeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
  ) {}

  acquire(): void {
    if (this.held)
      throw new Error(
        `state ${this.file}: the lock is already held by this process: set() or update() was called inside update(fn); change the draft instead`,
      );
    if (Atomics.compareExchange(this.words, W_LOCK, 0, this.me) === 0) this.took();
    else this.acquireSlow();
    // Holding the lock while the seqlock is odd: a writer died mid-write and whoever took
    // its lock over could not repair the region. Repair it now.
    if ((Atomics.load(this.words, W_SEQ) & 1) !== 0) this.repair(0);
  }

  private took(): void {
    Atomics.store(this.words, W_LOCK_START, this.myStart);
    Atomics.store(this.words, W_LOCK_THREAD, this.thread);
    this.held = true;
    this.stuck = null;
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
    let since = 0;
    for (;;) {
      const owner = Atomics.load(w, W_LOCK);
      if (owner === 0) {
        if (Atomics.compareExchange(w, W_LOCK, 0, this.me) === 0) return this.took();
        continue;
      }
      if (spins++ < SPIN_LIMIT) continue;
      const start = Atomics.load(w, W_LOCK_START) >>> 0;
      const holder: Holder = { pid: owner, start };
      // Our own pid and thread while we do not hold it: left by an earlier process that had
      // our pid (the file outlived a reboot). Anyone else's: take over only once it is gone.
      const stale =
        owner === this.me ? Atomics.load(w, W_LOCK_THREAD) === this.thread : !holderAlive(holder, this.inode());
      if (stale) {
        // Clear the dead holder's start time first: a third process must never see our pid
        // beside the dead one's start time (it would take us for a reused pid).
        if (start !== 0 && Atomics.compareExchange(w, W_LOCK_START, start | 0, 0) !== (start | 0)) continue;
        if (Atomics.compareExchange(w, W_LOCK, owner, this.me) === owner) {
          this.took();
          this.repair(owner);
          return;
        }
        continue;
      }
      const now = performance.now();
      if (since === 0) since = now;
      const again = this.stuck !== null && this.stuck.pid === owner && this.stuck.start === start;
      if (now - since >= (again ? WAIT_SLICE_MS : this.timeoutMs)) {
        this.stuck = holder;
        throw new StateLockTimeoutError(this.file, holder, now - since, again);
      }
      Atomics.add(w, W_WAITERS, 1);
      futexWait(this.mapping, W_LOCK * 4, owner, WAIT_SLICE_MS);
      Atomics.sub(w, W_WAITERS, 1);
    }
  }

  release(): void {
    this.held = false;
    Atomics.store(this.words, W_LOCK_START, 0);
    Atomics.store(this.words, W_LOCK, 0);
    if (Atomics.load(this.words, W_WAITERS) > 0) futexWake(this.mapping, W_LOCK * 4, 1);
  }
}
