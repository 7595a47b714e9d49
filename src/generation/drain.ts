// The old side of a reload: after a `give`, a generation stops accepting, hands every idle
// connection to the serving generation at once, and lets busy ones finish here, handing each
// over as it becomes idle, until the drain deadline cuts what is left. The supervisor may point
// it at a newer serving generation meanwhile (another `give`): late connections go there.
// If the peer goes away mid-handover, nothing unconfirmed is closed: it is served here.
import { ConnectionSender, channelEndsSchema, type PeerMessage } from "../handoff/index.ts";
import type { HttpServer, ReleasedConnection } from "../http/index.ts";
import type { GenerationEnv, PeerChannel } from "./env.ts";

/** How often the drain checks whether everything it held has moved or finished. */
export const DRAIN_POLL_MS = 10;

/** One peer the connections go to, and the sender that batches them. */
interface Target {
  to: number;
  peer: PeerChannel;
  sender: ConnectionSender;
  /** `handed-over` was told for this target's initial release. */
  reported: boolean;
  /** The peer is gone (closed its channel or broke it). */
  gone: boolean;
}

export interface DrainResult {
  connectionsMoved: number;
  movedLate: number;
  requestsCompleted: number;
  requestsCut: number;
  failed: number;
}

export class Drain {
  private target: Target | null = null;
  /** Earlier targets still settling their last batches before `done`. */
  private readonly retiring = new Set<Target>();
  private deadline: number;
  private readonly completedAtGive: number;
  /** Moves and failures of targets no longer current (retired or gone). */
  private movedBefore = 0;
  private failedBefore = 0;
  /** Total moved when the first `handed-over` was told: later moves are late. */
  private movedAtHandedOver: number | null = null;
  private cut = 0;
  private ended = false;
  /** cutNow() said why it cuts: the deadline's own log line would repeat it. */
  private cutAnnounced = false;

  constructor(
    private readonly env: GenerationEnv,
    private readonly server: HttpServer,
    private readonly generation: number,
    drainTimeoutMs: number,
  ) {
    this.deadline = env.now() + drainTimeoutMs;
    this.completedAtGive = server.counts.completed;
  }

  /** Hands over to generation `to` from now on (the first `give`, or a newer serving generation). */
  async give(to: number, fds: number[]): Promise<void> {
    const ends = channelEndsSchema.parse({ stream: fds[0], fds: fds[1] });
    let target!: Target;
    const peer = await this.env.openPeer(ends, `generation ${to}`, {
      message: (m: PeerMessage, got) => {
        for (const fd of got) this.env.closeFd(fd);
        if (m.type !== "adopted") return;
        target.sender.onAdopted(m.batch, m.failed);
        if (this.retiring.has(target)) this.finishRetired(target);
      },
      close: (error) => this.peerGone(target, error),
    });
    target = { to, peer, sender: new ConnectionSender((m, f) => peer.send(m, f)), reported: false, gone: false };
    if (this.ended) {
      // Stopped while the channel opened: nothing to hand over.
      peer.close();
      return;
    }
    // Only now, with somewhere to hand connections to: a give whose channel cannot be opened
    // leaves this generation serving and accepting as before.
    this.server.stopAccepting();
    const previous = this.target;
    this.target = target;
    if (previous) {
      // Its queued and in-flight batches still go to it; then `done`.
      this.retiring.add(previous);
      this.finishRetired(previous);
    }
    this.offer();
  }

  /** The supervisor's bound on draining generations: cut busy requests now. */
  cutNow(reason: string): void {
    this.env.log(`liveframe generation ${this.generation}: ${reason}: cutting ${this.server.counts.busy} busy connections now`);
    this.deadline = this.env.now();
    this.cutAnnounced = true;
  }

  /**
   * The supervisor made this generation serve again (its peer died mid-takeover): whatever it
   * holds stays here. Retired targets still finish what they have in flight.
   */
  cancel(): void {
    this.ended = true;
    const t = this.target;
    this.target = null;
    if (t) {
      t.sender.abandon();
      if (!t.gone) t.peer.close();
    }
    this.server.stopReleasing();
  }

  /** Stops the drain loop (a graceful stop takes over). */
  end(): void {
    this.ended = true;
  }

  /** Runs until everything moved or finished (then the result) or the drain was cancelled/ended (null). */
  async run(): Promise<DrainResult | null> {
    let timedOut = false;
    let closingRest = false;
    while (!this.ended) {
      const t = this.target;
      if (t && !t.reported && t.sender.settled) this.reportHandedOver(t);
      for (const r of this.retiring) this.finishRetired(r);
      const counts = this.server.counts;
      if (counts.open === 0 && (!t || t.sender.settled) && this.retiring.size === 0) break;
      if (this.env.now() >= this.deadline) {
        if (!timedOut && counts.busy > 0 && !this.cutAnnounced) {
          this.env.log(`liveframe generation ${this.generation}: drain deadline reached: cutting ${counts.busy} busy connections`);
        }
        timedOut = true;
        this.cut += this.server.closeBusy();
        // Past the deadline with nobody to hand to: what is left (idle, kept) closes at its boundary.
        if (!t && counts.open > 0 && !closingRest) {
          closingRest = true;
          void this.server.stop({ graceful: true, timeoutMs: 0 });
        }
      }
      await this.env.sleep(DRAIN_POLL_MS);
    }
    if (this.ended) return null;
    this.ended = true;
    const t = this.target;
    if (t && !t.reported) this.reportHandedOver(t);
    this.target = null;
    if (t) this.retire(t);
    const moved = this.movedBefore;
    return {
      connectionsMoved: moved,
      movedLate: moved - (this.movedAtHandedOver ?? moved),
      requestsCompleted: Math.max(0, this.server.counts.completed - this.completedAtGive),
      requestsCut: this.cut,
      failed: this.failedBefore,
    };
  }

  private totalMoved(): number {
    let n = this.movedBefore;
    if (this.target) n += this.target.sender.moved;
    for (const r of this.retiring) n += r.sender.moved;
    return n;
  }

  /** Offers every idle connection to the current target (again, after a peer went away). */
  private offer(): void {
    this.server.stopReleasing();
    if (this.target) this.server.release((c: ReleasedConnection) => (this.target ? this.target.sender.add(c) : c.keep()));
  }

  private reportHandedOver(t: Target): void {
    t.reported = true;
    this.movedAtHandedOver ??= this.totalMoved();
    const counts = this.server.counts;
    this.env.tell({
      type: "handed-over",
      to: t.to,
      connectionsMoved: this.totalMoved(),
      failed: this.failedBefore + t.sender.failed,
      busy: counts.busy,
      open: counts.open,
    });
    this.env.tell({ type: "counts", counts });
  }

  /** A retired target whose batches are all settled: tell it `done`, close, count it. */
  private finishRetired(t: Target): void {
    if (!t.sender.settled && !t.gone) return;
    this.retiring.delete(t);
    this.retire(t);
  }

  private retire(t: Target): void {
    this.movedBefore += t.sender.moved;
    this.failedBefore += t.sender.failed;
    if (t.gone) return;
    t.gone = true;
    try {
      t.peer.send({ type: "done", connectionsMoved: t.sender.moved });
    } catch {
      // it went away meanwhile; it confirmed everything it has
    }
    t.peer.close();
  }

  private peerGone(t: Target | undefined, error?: Error): void {
    if (!t || t.gone) return;
    t.gone = true;
    // What it did not confirm is still ours: kept and served here (ConnectionSender.abandon).
    t.sender.abandon();
    const why = error ? error.message : `generation ${t.to} closed the channel (it exited or was killed)`;
    if (this.retiring.delete(t)) {
      this.movedBefore += t.sender.moved;
      this.failedBefore += t.sender.failed;
      if (t.sender.kept > 0) this.env.log(`liveframe generation ${this.generation}: ${why}; keeping ${t.sender.kept} connections it had not confirmed`);
      this.offer();
      return;
    }
    if (this.target !== t || this.ended) return;
    this.target = null;
    this.movedBefore += t.sender.moved;
    this.failedBefore += t.sender.failed;
    this.server.stopReleasing();
    const counts = this.server.counts;
    this.env.log(
      `liveframe generation ${this.generation}: ${why} during the handover; serving the ${counts.open} connections still held here`,
    );
    this.env.tell({ type: "give-aborted", to: t.to, reason: why, open: counts.open, busy: counts.busy, accepting: false });
    this.env.tell({ type: "counts", counts });
  }
}
