// The old side of a reload: after a `give`, a generation stops accepting, hands every idle
// connection to the serving generation at once, and lets busy ones finish here, handing each
// over as it becomes idle, until the drain deadline cuts what is left. The supervisor may point
// it at a newer serving generation meanwhile (another `give`): late connections go there.
// If the peer goes away mid-handover, nothing unconfirmed is closed: it is served here.
//
// Room at the receiver (its file descriptors): a connection moves only into room the receiver
// granted (peer `offer` → `capacity`, fds held there for it). The first give is all or nothing:
// unless the receiver grants room for every connection held (idle and busy: the busy ones move
// late into room held for them), nothing moves, accepting resumes, and the give fails (the
// reload fails with the cause). Later, a connection with no granted room (after a re-point to a
// newer generation that has less room, say) stays here and is served here; it moves once the
// receiver grants room (asked again every CAPACITY_RETRY_MS), or closes at a request boundary
// at the drain deadline. It is never closed for lack of room.
import { ConnectionSender, channelEndsSchema, type PeerMessage } from "../handoff/index.ts";
import type { HttpServer, ReleasedConnection } from "../http/index.ts";
import type { GenerationEnv, PeerChannel } from "./env.ts";

/** How often the drain checks whether everything it held has moved or finished. */
export const DRAIN_POLL_MS = 10;
/**
 * The receiver answers an offer at once (it counts its fds). One silent this long is stuck: the
 * first give then fails and this generation keeps everything. Below the supervisor's wait for
 * `handed-over` (10 s), so the supervisor hears why rather than a timeout.
 */
export const CAPACITY_WAIT_MS = 5_000;
/** A receiver that had no room is asked again this often (its connections close meanwhile). */
export const CAPACITY_RETRY_MS = 1_000;

type Capacity = Extract<PeerMessage, { type: "capacity" }>;

/** The first give cannot go ahead: nothing moved; `reason` says why, for the reload to fail with. */
export class GiveRefused extends Error {
  override readonly name = "GiveRefused";
}

/** One peer the connections go to, and the sender that batches them. */
interface Target {
  to: number;
  peer: PeerChannel;
  sender: ConnectionSender;
  /** `handed-over` was told for this target's initial release. */
  reported: boolean;
  /** The peer is gone (closed its channel or broke it). */
  gone: boolean;
  /** Connections the peer holds fds for that have not been sent yet. */
  room: number;
  /** An `offer` awaits its `capacity`. */
  asking: boolean;
  /** When to ask again for room (a connection waits here for some); Infinity: nothing waits. */
  askAgainAt: number;
  /** The first give's wait for the answer to its offer (or the reason there is none). */
  answer: PromiseWithResolvers<Capacity | string>;
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
  /** The first give went ahead (room was granted for everything): later gives are re-points. */
  private handedOverOnce = false;
  /** Connections kept here since the last offer() because the target had granted no room for them. */
  private waitingForRoom = 0;
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

  /**
   * Hands over to generation `to` from now on (the first `give`, or a newer serving generation).
   * The first one throws GiveRefused if `to` cannot take every connection held: nothing moved,
   * and this generation accepts again as before.
   */
  async give(to: number, fds: number[]): Promise<void> {
    const ends = channelEndsSchema.parse({ stream: fds[0], fds: fds[1] });
    let target!: Target;
    const answer = Promise.withResolvers<Capacity | string>();
    const peer = await this.env.openPeer(ends, `generation ${to}`, {
      message: (m: PeerMessage, got) => {
        for (const fd of got) this.env.closeFd(fd);
        if (m.type === "capacity") return this.onCapacity(target, m);
        if (m.type !== "adopted") return;
        target.sender.onAdopted(m.batch, m.failed);
        if (this.retiring.has(target)) this.finishRetired(target);
      },
      close: (error) => {
        answer.resolve(`generation ${to} closed the channel before saying how many connections it can take${error ? ` (${error.message})` : ""}`);
        this.peerGone(target, error);
      },
    });
    target = {
      to,
      peer,
      sender: new ConnectionSender((m, f) => peer.send(m, f)),
      reported: false,
      gone: false,
      room: 0,
      asking: false,
      askAgainAt: Infinity,
      answer,
    };
    if (this.ended) {
      // Stopped while the channel opened: nothing to hand over.
      peer.close();
      return;
    }
    const previous = this.target;
    if (!previous && !this.handedOverOnce) {
      // Only now, with somewhere to hand connections to: a give whose channel cannot be opened
      // leaves this generation serving and accepting as before. Nothing moves until `to` says
      // it can take every connection held here: a handover that stops halfway at its fd limit
      // would leave both generations short.
      const refusal = await this.askForAll(target);
      if (this.ended) {
        target.gone = true;
        peer.close();
        return;
      }
      if (refusal !== null) {
        target.gone = true;
        peer.close();
        this.server.resumeAccepting();
        throw new GiveRefused(refusal);
      }
      this.handedOverOnce = true;
    }
    this.server.stopAccepting();
    this.target = target;
    if (previous) {
      // Its queued and in-flight batches still go to it; then `done`.
      this.retiring.add(previous);
      this.finishRetired(previous);
    }
    // A later target grants room as it can: ask for everything still held here.
    if (target.room === 0) this.askForRoom(target);
    this.offer();
  }

  /**
   * Holds accepting, offers every connection held, and waits for the peer's room. Null when it
   * granted room for them all (accepting stays held: the caller stops it for good); otherwise
   * the reason, for the reload to fail with.
   */
  private async askForAll(t: Target): Promise<string | null> {
    const g = this.generation;
    this.server.pauseAccepting();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`generation ${t.to} did not say within ${CAPACITY_WAIT_MS / 1000} s how many connections it can take`),
        CAPACITY_WAIT_MS,
      );
    });
    try {
      const offered = this.server.counts.open;
      t.asking = true;
      try {
        t.peer.send({ type: "offer", connections: offered });
      } catch (err) {
        t.answer.resolve(`offering connections to generation ${t.to} failed: ${(err as Error).message}`);
      }
      const c = await Promise.race([t.answer.promise, timeout]);
      const held = this.server.counts.open;
      if (typeof c !== "string" && t.room >= held) return null;
      const why =
        typeof c === "string"
          ? c
          : `generation ${t.to} can take ${t.room} more connections before it nears its file descriptor limit (${c.fdLimit}), and generation ${g} holds ${held}`;
      return (
        `${why}: nothing was handed over, and generation ${g} keeps serving all ${held} connections. ` +
        (typeof c === "string" ? "Retry the reload" : "Raise the fd limit (ulimit -n, systemd LimitNOFILE=) or reload when fewer connections are open")
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asks `t` for room for every connection held here that has none granted yet. */
  private askForRoom(t: Target): void {
    if (t.gone || t.asking || this.ended) return;
    const c = this.server.counts;
    // Connections in flight (releasing) were sent already, into room granted before.
    const wanted = c.open - c.releasing - t.room;
    if (wanted <= 0) {
      t.askAgainAt = Infinity;
      return;
    }
    t.asking = true;
    t.askAgainAt = Infinity;
    try {
      t.peer.send({ type: "offer", connections: wanted });
    } catch {
      t.asking = false; // the channel is going; its close handler takes over
    }
  }

  private onCapacity(t: Target, m: Capacity): void {
    t.asking = false;
    t.room += m.connections;
    t.answer.resolve(m);
    if (t !== this.target || t.gone) return;
    // Connections kept for lack of room are offered again now; none granted: ask again later.
    if (m.connections > 0) this.offer();
    else if (this.waitingForRoom > 0) t.askAgainAt = this.env.now() + CAPACITY_RETRY_MS;
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
      if (t && !t.asking && this.env.now() >= t.askAgainAt) this.askForRoom(t);
      for (const r of this.retiring) this.finishRetired(r);
      const counts = this.server.counts;
      if (counts.open === 0 && (!t || t.sender.settled) && this.retiring.size === 0) break;
      if (this.env.now() >= this.deadline) {
        if (!timedOut && counts.busy > 0 && !this.cutAnnounced) {
          this.env.log(`liveframe generation ${this.generation}: drain deadline reached: cutting ${counts.busy} busy connections`);
        }
        timedOut = true;
        this.cut += this.server.closeBusy();
        // Past the deadline, what is left here and not in flight (kept: nobody to hand to, no
        // room there, or refused) closes at its boundary.
        if ((!t || t.sender.settled) && this.retiring.size === 0 && counts.open > 0 && !closingRest) {
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

  /** Offers every idle connection to the current target (again, after a peer went away or granted room). */
  private offer(): void {
    this.server.stopReleasing();
    this.waitingForRoom = 0;
    if (this.target) this.server.release((c) => this.place(c));
  }

  /** One connection idle at a boundary: to the target if it has room for it, else served here for now. */
  private place(c: ReleasedConnection): void {
    const t = this.target;
    if (!t) return c.keep();
    if (t.room > 0) {
      t.room--;
      t.sender.add(c);
      return;
    }
    // No room granted there: it stays here, served here, until the target grants room (offer()
    // then offers it again) or the drain deadline closes it at a boundary. Never closed for lack of room.
    c.keep();
    this.waitingForRoom++;
    if (!t.asking && t.askAgainAt === Infinity) this.askForRoom(t);
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
    this.env.tell({
      type: "give-aborted", to: t.to, reason: why, open: counts.open, busy: counts.busy, accepting: false, cause: "peer-gone",
      connectionsMoved: t.sender.moved,
    });
    this.env.tell({ type: "counts", counts });
  }
}
