// One generation's life, driven by the supervisor's messages: boot → listen and/or take → …
// → give (drain) or stop → leave. Built from an injected environment (env.ts), so a test can
// run two generations in one process and fail any step; main.ts runs one as a process.
import { channelEndsSchema, adoptBatch, type BootConfig, type SupervisorMessage } from "../handoff/index.ts";
import type { HttpServer } from "../http/index.ts";
import { AdoptionRoom } from "./adoption-room.ts";
import { describeError, type LoadedApp } from "./boot.ts";
import { Drain, GiveRefused } from "./drain.ts";
import type { GenerationEnv } from "./env.ts";
import { withHealth } from "./health.ts";
import { noteAdopted } from "./info.ts";

/** How often the supervisor learns this generation's connection counts (for `status`). */
export const COUNTS_INTERVAL_MS = 500;
/** A graceful stop's bound when no config says otherwise (before boot). */
const FALLBACK_DRAIN_TIMEOUT_MS = 30_000;
/** Let the last frames reach the kernel before the process goes. */
const LAST_WORDS_MS = 5;

export class Generation {
  config: BootConfig | undefined;
  server: HttpServer | undefined;
  private room: AdoptionRoom | undefined;
  private loaded: LoadedApp | undefined;
  private drain: Drain | null = null;
  private leavingPromise: Promise<void> | undefined;

  constructor(private readonly env: GenerationEnv) {}

  /** True once it began to leave (exit follows). */
  get leaving(): boolean {
    return this.leavingPromise !== undefined;
  }

  get draining(): boolean {
    return this.drain !== null;
  }

  /**
   * Handles one supervisor message and the fds it carried. Never rejects: a failure is logged
   * and reported in the terms the supervisor waits for (an unhandled rejection would end the
   * process, and with it every connection it holds).
   */
  async receive(m: SupervisorMessage, fds: number[]): Promise<void> {
    // Fds this message brought that nothing owns yet; closed if handling it fails.
    const unclaimed = new Set(fds);
    try {
      await this.handle(m, fds, unclaimed);
    } catch (err) {
      this.handlerFailed(m, unclaimed, err);
    }
  }

  /** The supervisor's channel closed (`error` if it broke the protocol): a generation never outlives it. */
  supervisorGone(error?: Error): void {
    if (error) this.env.log(`liveframe generation ${this.config?.generation ?? "?"}: ${error.message}`);
    if (!this.leaving) this.env.exit(error ? 71 : 0);
  }

  private async handle(m: SupervisorMessage, fds: number[], unclaimed: Set<number>): Promise<void> {
    switch (m.type) {
      case "boot":
        return this.boot(m.config);
      case "listen":
        return this.listen(fds, unclaimed, m.reserve ?? 0);
      case "take":
        return this.take(m.from, channelFds(m.type, fds), unclaimed);
      case "give":
        return this.give(m.to, channelFds(m.type, fds), unclaimed);
      case "cut":
        this.drain?.cutNow(m.reason);
        return;
      case "stop":
        return this.stop(m.timeoutMs);
    }
  }

  private get name(): string {
    return `liveframe generation ${this.config?.generation ?? "?"}`;
  }

  private mustHaveServer(): HttpServer {
    if (this.server) return this.server;
    throw new Error("supervisor sent work before boot");
  }

  private async boot(c: BootConfig): Promise<void> {
    const started = this.env.now();
    this.config = c;
    this.env.announceNumber(c.generation, c.worker ?? 0, c.workers ?? 1);
    try {
      this.loaded = await this.env.loadApp(c.entry);
      const app = c.health ? withHealth(this.loaded.app) : this.loaded.app;
      this.server = this.env.createServer(app, c.server);
      this.room = new AdoptionRoom(this.server);
    } catch (err) {
      const error = err instanceof Error && err.message.startsWith(c.entry) ? err.message : describeError(err);
      this.env.tell({ type: "boot-failed", error });
      this.leavingPromise = Promise.resolve();
      // The supervisor kills us after reading this; exit anyway if it does not.
      void this.env.sleep(50).then(() => this.env.exit(1));
      return;
    }
    this.env.tell({ type: "ready", pid: this.env.pid, bootMs: this.env.now() - started, appMs: this.loaded.importMs });
    this.env.every(COUNTS_INTERVAL_MS, () => {
      if (this.server && !this.leaving) this.env.tell({ type: "counts", counts: this.server.counts });
    });
  }

  /**
   * Accept on the listeners; a generation handing over (its peer died) stops that and serves
   * again. `reserve`: connections the reload's old generation will bring; fds are held for them
   * rather than filled from the backlog.
   */
  private listen(fds: number[], unclaimed: Set<number>, reserve: number): void {
    const s = this.mustHaveServer();
    this.room?.expect(reserve);
    if (this.drain) {
      this.drain.cancel();
      this.drain = null;
      this.env.log(`${this.name}: serving again: the generation it was handing over to is gone`);
    }
    for (const fd of fds) {
      s.listen(fd);
      unclaimed.delete(fd);
    }
    this.env.tell({ type: "listening", count: fds.length });
  }

  /**
   * New side: adopt every connection generation `from` sends until it says done. Its offers are
   * granted room out of this process's free fds (adoption-room.ts); a batch whose fds did not
   * arrive (out of fds even so) is refused whole, and the old generation keeps it.
   */
  private async take(from: number, fds: number[], unclaimed: Set<number>): Promise<void> {
    const s = this.mustHaveServer();
    const room = this.room!;
    const channel = {};
    let adopted = 0;
    let reported = false;
    // Once, whichever comes first: `done`, or the old generation's channel breaking.
    const reportTaken = () => {
      room.release(channel);
      if (reported) return;
      reported = true;
      this.env.tell({ type: "taken", from, connectionsAdopted: adopted });
    };
    const ends = channelEndsSchema.parse({ stream: fds[0], fds: fds[1] });
    for (const fd of fds) unclaimed.delete(fd); // openPeer owns them from the call on
    const peer = await this.env.openPeer(ends, `generation ${from}`, {
      message: (m, got) => {
        if (m.type === "connections") {
          // Adopted here; if this generation is itself handing over, each goes straight on.
          const failed = adoptBatch(s, m, got);
          room.used(channel, got.length);
          const n = got.length - failed.length;
          adopted += n;
          noteAdopted(n);
          // The supervisor hears first: if this process dies before the old one reads the
          // confirmation, the count of what died with it is not too low.
          this.env.tell({ type: "taking", from, connectionsAdopted: adopted });
          peer.send({ type: "adopted", batch: m.batch, failed });
        } else if (m.type === "offer") {
          // Fds are held for what is granted, so connections accepted meanwhile cannot take them.
          peer.send({ type: "capacity", connections: room.grant(channel, m.connections), fdLimit: s.fdLimit });
        } else if (m.type === "done") {
          reportTaken();
          peer.close();
        } else {
          for (const fd of got) this.env.closeFd(fd);
        }
      },
      undelivered: (m, error) => {
        this.env.log(`${this.name}: ${error.message}`);
        if (m.type === "connections") peer.send({ type: "adopted", batch: m.batch, failed: m.items.map((_, i) => i) });
      },
      close: (error) => {
        if (error) this.env.log(`${this.name}: ${error.message}`);
        reportTaken();
      },
    });
  }

  /**
   * Old side: hand everything over to generation `to` (first give), or point late connections
   * at it (a later one). A first give that cannot go ahead (no channel, or `to` has no room for
   * everything held) leaves this generation serving and accepting, and says why (give-aborted).
   */
  private async give(to: number, fds: number[], unclaimed: Set<number>): Promise<void> {
    const s = this.mustHaveServer();
    for (const fd of fds) unclaimed.delete(fd); // drain.give → openPeer owns them
    if (this.drain) return this.drain.give(to, fds);
    const drain = new Drain(this.env, s, this.config?.generation ?? 0, this.config?.drainTimeoutMs ?? FALLBACK_DRAIN_TIMEOUT_MS);
    this.drain = drain;
    this.env.tell({ type: "counts", counts: s.counts });
    try {
      await drain.give(to, fds);
    } catch (err) {
      // Nothing moved: serve everything held here, as before the give.
      drain.cancel();
      this.drain = null;
      const refused = err instanceof GiveRefused;
      const reason = refused ? err.message : `the channel to generation ${to} could not be opened: ${describeError(err)}`;
      this.env.log(`${this.name}: ${reason}`);
      this.giveAborted(to, reason, refused ? "capacity" : "no-channel");
      return;
    }
    void this.finishDrain(drain);
  }

  /** A first give did not happen: this generation serves on and accepts as before. */
  private giveAborted(to: number, reason: string, cause: "no-channel" | "capacity"): void {
    const c = this.server?.counts;
    this.env.tell({
      type: "give-aborted",
      to,
      reason,
      open: c?.open ?? 0,
      busy: c?.busy ?? 0,
      accepting: (this.server?.listenerFds.length ?? 0) > 0,
      cause,
    });
  }

  /**
   * A supervisor message arrived but its fds did not (this process is out of fds even with its
   * spare ones). Nothing was taken from anyone: keep serving, and say why in the terms the
   * supervisor waits for. A give that cannot be received must never end this generation.
   */
  undelivered(m: SupervisorMessage, error: Error): void {
    const g = this.config?.generation ?? "?";
    this.env.log(`${this.name}: ${m.type}: ${error.message}`);
    switch (m.type) {
      case "give":
        if (this.drain) {
          this.env.log(`${this.name}: late connections keep going to the previous generation`);
          return;
        }
        this.giveAborted(
          m.to,
          `generation ${g} could not receive its channel to generation ${m.to}: ${error.message}; nothing was handed over and generation ${g} keeps serving its ${this.server?.counts.open ?? 0} connections`,
          "no-channel",
        );
        return;
      case "take":
        // The old generation sees the channel close before its offer is answered, and keeps its connections.
        this.env.tell({ type: "taken", from: m.from, connectionsAdopted: 0 });
        return;
      default:
        this.env.tell({ type: "boot-failed", error: `${m.type}: ${error.message}` });
    }
  }

  private async finishDrain(drain: Drain): Promise<void> {
    const result = await drain.run();
    if (!result || this.drain !== drain) return; // cancelled (serving again) or a stop took over
    this.env.tell({ type: "given", ...result });
    await this.leave();
  }

  private async stop(timeoutMs: number): Promise<void> {
    this.drain?.end();
    if (this.server) await this.server.stop({ graceful: true, timeoutMs });
    this.env.tell({ type: "stopped" });
    await this.leave();
  }

  /**
   * Handling a supervisor message threw: close the fds nothing took, say what failed, and tell
   * the supervisor in the terms it waits for. Nothing here may throw.
   */
  private handlerFailed(m: SupervisorMessage, unclaimed: Set<number>, err: unknown): void {
    for (const fd of unclaimed) {
      try {
        this.env.closeFd(fd);
      } catch {
        // already closed
      }
    }
    const what = `${m.type} failed: ${describeError(err)}`;
    this.env.log(`${this.name}: ${what}`);
    try {
      switch (m.type) {
        case "boot":
        case "listen":
          // Not serving yet: the supervisor's wait fails with the cause and it kills this process.
          this.env.tell({ type: "boot-failed", error: what });
          return;
        case "take":
          // This generation serves already: keep serving. Nothing adopted; the old generation's
          // channel end is closed above, so it keeps what it holds.
          this.env.tell({ type: "taken", from: m.from, connectionsAdopted: 0 });
          return;
        case "give":
          // Nobody to hand to: keep serving everything held here and say so.
          if (this.drain) {
            this.env.log(`${this.name}: late connections keep going to the previous generation`);
            return;
          }
          // The channel never opened, so it never stopped accepting (drain.ts): it serves on.
          this.env.tell({
            type: "give-aborted",
            to: m.to,
            reason: what,
            open: this.server?.counts.open ?? 0,
            busy: this.server?.counts.busy ?? 0,
            accepting: (this.server?.listenerFds.length ?? 0) > 0,
            cause: "no-channel",
          });
          return;
        case "cut":
          return;
        case "stop":
          this.env.tell({ type: "stopped" });
          void this.leave();
          return;
      }
    } catch (e) {
      this.env.log(`${this.name}: reporting that failure failed too: ${describeError(e)}`);
    }
  }

  /** Last steps of every graceful exit: the app's stop hook, state to disk, exit. Runs once. */
  leave(): Promise<void> {
    this.leavingPromise ??= this.leaveOnce();
    return this.leavingPromise;
  }

  private async leaveOnce(): Promise<void> {
    try {
      await this.loaded?.stop?.();
    } catch (err) {
      this.env.log(`${this.name}: stop hook failed: ${describeError(err)}`);
    }
    try {
      await this.env.syncState();
    } catch (err) {
      this.env.log(`${this.name}: syncing state failed: ${describeError(err)}`);
    }
    await this.env.sleep(LAST_WORDS_MS);
    this.env.exit(0);
  }
}

/** `take` and `give` carry the two fds of a channel end (stream, fds). */
function channelFds(type: string, fds: number[]): number[] {
  if (fds.length !== 2) throw new Error(`${type} carried ${fds.length} fds, not the 2 of a channel end`);
  return fds;
}
