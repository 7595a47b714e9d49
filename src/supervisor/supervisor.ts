// The supervisor: owns the listeners and the control socket, runs one generation at a time
// (two during a reload), replaces a crashed one, and reloads on request.
import { close } from "../../ffi/index.ts";
import { channelPair, type GenerationMessage } from "../handoff/index.ts";
import { ControlServer } from "./control.ts";
import { fmtSeconds, GenerationProcess } from "./generation-process.ts";
import { closeListeners, openListeners, type Listener } from "./listeners.ts";
import { prepareRuntimeDir } from "./runtime-dir.ts";
import type { ReloadOutcome, StatusReport, Supervisor, SupervisorEvent, SupervisorOptions } from "./types.ts";

/** `status` shows this many recent reloads. */
const RELOAD_HISTORY = 20;
/** Once the new generation accepts, how long the old one may take beyond the drain timeout to hand over and exit. */
const GIVE_GRACE_MS = 10_000;
/** Crash restarts back off from this... */
const RESTART_BACKOFF_MIN_MS = 250;
/** ...doubling up to this, so a crash loop neither spins nor waits too long once fixed. */
const RESTART_BACKOFF_MAX_MS = 10_000;
/** A generation that served this long resets the crash count: the next crash is not a loop. */
const STABLE_AFTER_MS = 10_000;
/** A graceful stop waits this long beyond the drain timeout before it kills what remains. */
const STOP_GRACE_MS = 5_000;

export class SupervisorProcess implements Supervisor {
  readonly exited: Promise<number>;
  private resolveExited!: (code: number) => void;
  private active!: GenerationProcess;
  private readonly generations = new Set<GenerationProcess>();
  private nextNumber = 1;
  private reloading: { from: number; to: number; startedAt: number; next?: GenerationProcess } | null = null;
  private restarting = false;
  private stopping: Promise<void> | null = null;
  private readonly reloads: ReloadOutcome[] = [];
  private restarts = 0;
  private crashesInARow = 0;
  private readonly startedAt = performance.now();
  private control: ControlServer | null = null;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];

  private constructor(
    private readonly o: SupervisorOptions,
    private readonly listeners: Listener[],
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  static async start(o: SupervisorOptions): Promise<SupervisorProcess> {
    const controlPath = await prepareRuntimeDir(o.runtimeDir);
    const listeners = openListeners(o);
    const s = new SupervisorProcess(o, listeners);
    try {
      s.active = await s.bootGeneration();
      await s.listenOn(s.active, o.readyTimeoutMs);
    } catch (err) {
      for (const g of s.generations) g.kill();
      if (!o.listenFds) closeListeners(listeners);
      throw err;
    }
    try {
      s.control = new ControlServer(controlPath, (req) => s.onControl(req));
    } catch (err) {
      s.active.kill();
      if (!o.listenFds) closeListeners(listeners);
      throw new Error(`cannot create the control socket ${controlPath}: ${(err as Error).message}`);
    }
    if (o.handleSignals !== false) s.installSignals();
    s.emit({ type: "ready", generation: s.active.number, pid: s.active.pid, listeners: listeners.map((l) => l.info) });
    return s;
  }

  status(): StatusReport {
    let connections = 0;
    for (const g of this.generations) if (g.alive) connections += g.counts.open;
    return {
      supervisorPid: process.pid,
      generation: this.active.number,
      generationPid: this.active.pid,
      uptimeMs: performance.now() - this.startedAt,
      listeners: this.listeners.map((l) => l.info),
      connections,
      reloads: [...this.reloads],
      restarts: this.restarts,
      runtimeDir: this.o.runtimeDir,
    };
  }

  async reload(opts: { timeoutMs?: number; reason?: string } = {}): Promise<ReloadOutcome> {
    const from = this.active;
    const refused = (error: string): ReloadOutcome => {
      const outcome: ReloadOutcome = {
        ok: false,
        from: from.number,
        totalMs: 0,
        connectionsMoved: 0,
        requestsDrained: 0,
        error,
        reason: opts.reason,
        at: new Date().toISOString(),
      };
      // In the log (a refused SIGHUP has no one else to tell), not in the history.
      this.emit({ type: "reload-failed", outcome, refused: true });
      return outcome;
    };
    if (this.stopping) return refused("the server is stopping: nothing to reload");
    if (this.reloading) {
      const r = this.reloading;
      return refused(
        `a reload is already in progress (generation ${r.from} → ${r.to}, started ${fmtSeconds(performance.now() - r.startedAt)} ago): wait for it to finish, then retry`,
      );
    }
    if (this.restarting) {
      return refused(
        `the supervisor is restarting a crashed generation (attempt ${this.crashesInARow}); each attempt loads ${this.o.entry} afresh, so a fixed app is picked up by the next one`,
      );
    }
    const timeoutMs = opts.timeoutMs ?? this.o.readyTimeoutMs;
    const t0 = performance.now();
    const at = new Date().toISOString();
    this.reloading = { from: from.number, to: this.nextNumber, startedAt: t0 };
    this.emit({ type: "reloading", from: from.number, reason: opts.reason });
    let next: GenerationProcess | undefined;
    let outcome: ReloadOutcome;
    try {
      next = await this.bootGeneration(timeoutMs, (g) => this.reloading && (this.reloading.next = g));
      const readyMs = performance.now() - t0;
      await this.listenOn(next, Math.max(1000, timeoutMs - readyMs));
      const servingMs = performance.now() - t0;
      // From here the new generation serves: it is the one a crash restart would replace.
      const old = this.active;
      this.active = next;
      this.crashesInARow = 0;
      const given = await this.handOver(old, next);
      if (!next.alive) throw new Error(`${next.describeExit()} while taking over; the supervisor starts the app again`);
      outcome = {
        ok: true,
        from: from.number,
        to: next.number,
        pid: next.pid,
        readyMs,
        servingMs,
        totalMs: performance.now() - t0,
        ...given,
        reason: opts.reason,
        at,
      };
    } catch (err) {
      if (next !== this.active) next?.kill();
      outcome = {
        ok: false,
        from: from.number,
        totalMs: performance.now() - t0,
        connectionsMoved: 0,
        requestsDrained: 0,
        error: (err as Error).message,
        reason: opts.reason,
        at,
      };
    } finally {
      this.reloading = null;
    }
    // Whoever serves now died during the reload (old before the new one took over, or the new
    // one while taking over): nobody serves, so start the app again.
    if (!this.active.alive && !this.stopping) void this.restartAfterCrash(this.active);
    this.reloads.push(outcome);
    if (this.reloads.length > RELOAD_HISTORY) this.reloads.shift();
    this.emit({ type: outcome.ok ? "reloaded" : "reload-failed", outcome });
    return outcome;
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  // ── generations ──────────────────────────────────────────────────────────────────────

  /** Spawns the next generation and waits until it has booted (nothing taken yet). */
  private async bootGeneration(
    timeoutMs = this.o.readyTimeoutMs,
    onSpawn?: (g: GenerationProcess) => unknown,
  ): Promise<GenerationProcess> {
    // A generation number is used up only once it serves (listenOn): `status` shows a number
    // that grows by one per successful reload or restart, whatever failed in between.
    const number = this.nextNumber;
    const g = await GenerationProcess.spawn({
      config: {
        generation: number,
        entry: this.o.entry,
        server: this.o.server,
        health: this.o.health ?? false,
        drainTimeoutMs: this.o.drainTimeoutMs,
        runtimeDir: this.o.runtimeDir,
      },
      env: { ...process.env, ...this.o.env },
      onMessage: (gen, m) => this.onStrayMessage(gen, m),
    });
    onSpawn?.(g);
    this.generations.add(g);
    void g.exited.then(() => this.onExit(g));
    try {
      await g.waitFor("ready", timeoutMs, "ready");
    } catch (err) {
      g.kill();
      const hint = g.alive && !g.exit ? "; is its start hook stuck? give it longer with --timeout" : "";
      throw new Error(`generation ${number} failed to start: ${(err as Error).message}${/not ready within/.test((err as Error).message) ? hint : ""}`);
    }
    return g;
  }

  /** Gives a booted generation the supervisor's listeners; resolves once it accepts on them. */
  private async listenOn(g: GenerationProcess, timeoutMs: number): Promise<void> {
    const waiting = g.waitFor("listening", timeoutMs, "accepting on the listeners");
    if (!g.send({ type: "listen", listeners: this.listeners.map((l) => l.info) }, this.listeners.map((l) => l.fd))) {
      waiting.catch(() => {});
      throw new Error(g.describeExit());
    }
    try {
      await waiting;
    } catch (err) {
      g.kill();
      throw err;
    }
    this.nextNumber = g.number + 1;
  }

  /**
   * Connects old and new generation by a fresh channel; the old one stops accepting and
   * sends every connection over as it reaches a request boundary, then exits.
   */
  private async handOver(old: GenerationProcess, next: GenerationProcess) {
    const none = { connectionsMoved: 0, requestsDrained: 0, closedBusy: 0 };
    if (!old.alive) return none; // it crashed meanwhile: its connections died with it
    const [a, b] = channelPair();
    old.expectingExit = true;
    const given = old.waitFor("given", this.o.drainTimeoutMs + GIVE_GRACE_MS, "done handing over");
    const taken = next.waitFor("taken", this.o.drainTimeoutMs + GIVE_GRACE_MS, "done adopting");
    taken.catch(() => {});
    const sent = next.send({ type: "take", from: old.number }, [b.stream, b.fds]) && old.send({ type: "give", to: next.number }, [a.stream, a.fds]);
    for (const fd of [a.stream, a.fds, b.stream, b.fds]) close(fd);
    if (!sent) {
      given.catch(() => {});
      old.kill();
      return none;
    }
    try {
      const g = await given;
      await taken.catch(() => {});
      return { connectionsMoved: g.connectionsMoved, requestsDrained: g.requestsDrained, closedBusy: g.closedBusy };
    } catch (err) {
      // The old one crashed or lingers: the new one serves anyway; bound the old one's life.
      console.error(`liveframe: ${(err as Error).message}; the new generation serves; stopping the old one`);
      old.kill();
      return none;
    }
  }

  private onStrayMessage(g: GenerationProcess, m: GenerationMessage): void {
    if (m.type === "given" || m.type === "taken" || m.type === "stopped") return;
    console.error(`liveframe: unexpected ${m.type} from generation ${g.number}: ignored`);
  }

  private onExit(g: GenerationProcess): void {
    this.generations.delete(g);
    const e = g.exit!;
    this.emit({ type: "generation-exited", generation: g.number, pid: g.pid, code: e.code, signal: e.signal, expected: g.expectingExit });
    if (g !== this.active || g.expectingExit || this.stopping) return;
    // During a reload the new generation takes over anyway; if that reload fails, it restarts.
    if (this.reloading) return;
    void this.restartAfterCrash(g);
  }

  /** Replaces a generation that died while serving; the listeners keep queueing meanwhile. */
  private async restartAfterCrash(dead: GenerationProcess): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    try {
      if (performance.now() - dead.startedAt > STABLE_AFTER_MS) this.crashesInARow = 0;
      for (;;) {
        this.crashesInARow++;
        this.restarts++;
        const delayMs =
          this.crashesInARow === 1 ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MIN_MS * 2 ** (this.crashesInARow - 2));
        const reason =
          this.crashesInARow > 2
            ? `crash loop: ${dead.describeExit()} (${this.crashesInARow} failures in a row); backing off ${fmtSeconds(delayMs)}`
            : dead.describeExit();
        this.emit({ type: "restarting", generation: this.nextNumber, delayMs, reason, attempt: this.crashesInARow });
        if (delayMs > 0) await Bun.sleep(delayMs);
        if (this.stopping) return;
        try {
          const g = await this.bootGeneration();
          await this.listenOn(g, this.o.readyTimeoutMs);
          this.active = g;
          this.emit({ type: "ready", generation: g.number, pid: g.pid, restart: true });
          return;
        } catch (err) {
          console.error(`liveframe: restart failed: ${(err as Error).message}`);
        }
      }
    } finally {
      this.restarting = false;
    }
  }

  // ── control and signals ──────────────────────────────────────────────────────────────

  private async onControl(req: { cmd: "reload"; timeoutMs: number } | { cmd: "status" } | { cmd: "stop" }): Promise<unknown> {
    switch (req.cmd) {
      case "reload":
        return this.reload({ timeoutMs: req.timeoutMs, reason: "liveframe reload" });
      case "status":
        return this.status();
      case "stop":
        await this.stop();
        return { stopped: true, supervisorPid: process.pid };
    }
  }

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, fn: () => void) => {
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    };
    on("SIGHUP", () => void this.reload({ reason: "SIGHUP" }));
    on("SIGTERM", () => void this.stop());
    on("SIGINT", () => void this.stop());
  }

  private async doStop(): Promise<void> {
    this.emit({ type: "stopping" });
    // A generation still booting is killed; one already serving (mid-reload) stops gracefully below.
    const booting = this.reloading?.next;
    if (booting && booting !== this.active) booting.kill();
    const live = [...this.generations];
    for (const g of live) {
      g.expectingExit = true;
      if (!g.send({ type: "stop", timeoutMs: this.o.drainTimeoutMs })) g.kill();
    }
    // A timer, not Bun.sleep: once everything has exited, nothing may keep this process alive.
    const killer = setTimeout(() => {
      for (const g of live) g.kill();
    }, this.o.drainTimeoutMs + STOP_GRACE_MS);
    await Promise.all(live.map((g) => g.exited));
    clearTimeout(killer);
    if (!this.o.listenFds) closeListeners(this.listeners);
    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    this.emit({ type: "stopped", code: 0 });
    // Answer a pending `liveframe stop` before the control socket goes away.
    setTimeout(() => {
      this.control?.stop();
      this.resolveExited(0);
    }, 50);
  }

  private emit(e: SupervisorEvent): void {
    try {
      this.o.onEvent?.(e);
    } catch (err) {
      console.error(`liveframe: an onEvent handler threw: ${(err as Error).message}`);
    }
  }
}
