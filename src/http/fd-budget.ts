// How many more connections this process may take before it runs out of file descriptors.
// Bun's accept loop (uSockets) has no back-off: at EMFILE the listener stays readable and the
// loop retries at once, 100 % of a core, forever ("Todo: start timer here" in its loop.c). So
// the server stops accepting BEFORE the limit, while a headroom of fds is still free for the
// app's own files and sockets and for a handover's channels, and lets the kernel queue new
// connections in the listen backlog until connections close. (ENFILE, the system-wide table
// full, cannot be foreseen; counting /proc/self/fd then fails too, which pauses accepting.)
import { fileLimit, openFdCount } from "../../ffi/index.ts";

/** Fds never used for accepted connections: the app's files, upstream sockets, DNS, a handover's channels. */
export const MIN_HEADROOM_FDS = 16;
/** Past MIN_HEADROOM_FDS, this share of the limit stays free too (a bigger process opens more of its own). */
const HEADROOM_SHARE = 1 / 64;
/** Headroom stops growing here: 256 fds is plenty for any app's own use. */
const MAX_HEADROOM_FDS = 256;
/** Accepting resumes only once this many fds beyond the headroom are free again (no flapping). */
export const RESUME_ROOM_FDS = 4;
/** Far from the limit, count /proc/self/fd at most this often (it costs ~1 ms per 1,300 fds). */
export const RECOUNT_INTERVAL_MS = 1000;

export interface FdSource {
  limit(): number;
  /** Fds open now; null when they cannot even be counted (which at the limit means EMFILE). */
  open(): number | null;
}

const processFds: FdSource = { limit: fileLimit, open: openFdCount };

export class FdBudget {
  readonly limit: number;
  readonly headroom: number;
  /** Fds held for connections a handover will bring: accepting leaves them free. */
  reserved = 0;
  /** Fds open besides connections, at the last count. */
  private others = 0;
  private countedAt = -Infinity;

  constructor(private readonly fds: FdSource = processFds) {
    this.limit = fds.limit();
    this.headroom = Math.min(MAX_HEADROOM_FDS, MIN_HEADROOM_FDS + Math.floor(this.limit * HEADROOM_SHARE));
  }

  /**
   * Connections that may still be accepted with `connections` open; ≤ 0 means stop accepting.
   * Between counts (`recount`, or one older than RECOUNT_INTERVAL_MS) the fds besides
   * connections are taken as unchanged: per accept, a count would cost too much at a high
   * limit, and an app's own fds change slowly (a drift is corrected within the interval).
   */
  acceptRoom(connections: number, now: number, recount = false): number {
    if (recount || now - this.countedAt >= RECOUNT_INTERVAL_MS) {
      if (!this.count(connections, now)) return 0;
    }
    return this.room(connections);
  }

  /** Connections a handover may bring now: half the headroom may go to them (they are clients already). */
  adoptRoom(connections: number, now: number): number {
    if (!this.count(connections, now)) return 0;
    return Math.max(0, this.limit - this.others - connections - Math.ceil(this.headroom / 2));
  }

  private room(connections: number): number {
    return this.limit - this.others - connections - this.reserved - this.headroom;
  }

  private count(connections: number, now: number): boolean {
    const open = this.fds.open();
    if (open === null) return false;
    this.others = Math.max(0, open - connections);
    this.countedAt = now;
    return true;
  }
}
