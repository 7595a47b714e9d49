// The supervisor: owns the listeners and the control socket, runs one serving generation at a
// time (old and new both serve for the moment of a handover), replaces a crashed one, and
// reloads on request. It keeps the next generation's process started ahead of need (the
// standby, see standby.ts): a reload or restart then only imports the app. So it normally has
// two child processes (the serving generation and the standby), three during a reload.
import { close } from "../../ffi/index.ts";
import { channelPair, type BootConfig, type GenerationMessage } from "../handoff/index.ts";
import { ControlServer, missingStateMessage } from "./control.ts";
import { fmtSeconds, GenerationProcess } from "./generation-process.ts";
import { closeListeners, openListeners, type Listener } from "./listeners.ts";
import { prepareRuntimeDir } from "./runtime-dir.ts";
import { changedFile, envKey, runtimeFingerprint } from "./standby.ts";
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
/** A standby that dies unused is replaced after this (0 the first time)... */
const STANDBY_RESPAWN_MIN_MS = 250;
/** ...doubling up to this: a runtime that cannot even import must not become a spawn loop. */
const STANDBY_RESPAWN_MAX_MS = 30_000;

/** The next generation's process, spawned ahead of need, and what it was spawned with. */
interface Standby {
  /** Resolves once spawned with its channel open (it may still be importing the runtime). */
  ready: Promise<GenerationProcess>;
  process: GenerationProcess | null;
  /** Spawned with this env and these runtime files: if either changed since, it is not used. */
  env: string;
  fingerprint: string;
}

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
  private standby: Standby | null = null;
  private standbyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Standbys in a row that died unused (reset when one is used). */
  private standbyFailures = 0;

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
    s.prepareStandby();
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
      standbyPid: this.standbyPid(),
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
    // The runtime dir may have been removed since the last look: put it back first, and never
    // start a generation whose state file went away (it would start that state empty).
    this.control?.ensure();
    const lost = (await this.control?.waitForStateFiles()) ?? [];
    if (lost.length > 0) return refused(missingStateMessage(lost));
    if (this.stopping || this.reloading || this.restarting) {
      return refused("another reload, a restart or a stop began while this one waited for a state file: retry");
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
      this.abandonIfStopping(next, "reload");
      const readyMs = performance.now() - t0;
      // The new generation holds fds for the old one's connections rather than fill up from the backlog.
      await this.listenOn(next, Math.max(1000, timeoutMs - readyMs), from.alive ? from.counts.open : 0);
      this.abandonIfStopping(next, "reload");
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
        standby: next.prestarted,
        reason: opts.reason,
        at,
      };
    } catch (err) {
      // A refused give already asked the new generation to stop gracefully: its connections finish.
      if (next !== this.active && !(err instanceof GiveRefused)) next?.kill();
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
    else this.prepareStandby();
    this.reloads.push(outcome);
    if (this.reloads.length > RELOAD_HISTORY) this.reloads.shift();
    this.emit({ type: outcome.ok ? "reloaded" : "reload-failed", outcome, ...(outcome.ok && next ? { phases: bootPhases(next) } : {}) });
    return outcome;
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /**
   * A stop that began while a reload or restart awaited its new generation: that generation
   * must not go on to listen or take (the stop has already told the others to finish).
   */
  private abandonIfStopping(g: GenerationProcess, what: "reload" | "restart"): void {
    if (!this.stopping) return;
    g.kill();
    throw new Error(`the server is stopping: ${what} abandoned`);
  }

  // ── generations ──────────────────────────────────────────────────────────────────────

  /**
   * Makes the next generation (the standby if there is a usable one, else a process spawned
   * now) and waits until it has booted (app imported, start hook done; nothing taken yet).
   */
  private async bootGeneration(
    timeoutMs = this.o.readyTimeoutMs,
    onSpawn?: (g: GenerationProcess) => unknown,
  ): Promise<GenerationProcess> {
    // A generation number is used up only once it serves (listenOn): `status` shows a number
    // that grows by one per successful reload or restart, whatever failed in between.
    const number = this.nextNumber;
    const config: BootConfig = {
      generation: number,
      entry: this.o.entry,
      server: this.o.server,
      health: this.o.health ?? false,
      drainTimeoutMs: this.o.drainTimeoutMs,
      runtimeDir: this.o.runtimeDir,
    };
    const env = this.generationEnv();
    let g = await this.takeStandby(env);
    if (g && this.stopping) {
      g.kill();
      throw new Error("the server is stopping: no new generation started");
    }
    if (g && !g.boot(config)) {
      // It died a moment ago (its exit not reported yet) or its channel broke: spawn as before.
      g.kill();
      g = null;
    }
    if (g) g.prestarted = true;
    else {
      g = await this.spawnProcess(env);
      if (this.stopping) {
        g.kill();
        throw new Error("the server is stopping: no new generation started");
      }
      if (!g.boot(config)) {
        g.kill();
        throw new Error(`generation ${number} failed to start: ${g.describeExit()}`);
      }
    }
    onSpawn?.(g);
    try {
      g.readyReport = await g.waitFor("ready", timeoutMs, "ready");
    } catch (err) {
      g.kill();
      const hint = g.alive && !g.exit ? "; is its start hook stuck? give it longer with --timeout" : "";
      throw new Error(`generation ${number} failed to start: ${(err as Error).message}${/not ready within/.test((err as Error).message) ? hint : ""}`);
    }
    return g;
  }

  private generationEnv(): Record<string, string | undefined> {
    return { ...process.env, ...this.o.env };
  }

  /** Spawns a generation process (it imports liveframe's runtime, then waits for boot). */
  private async spawnProcess(env: Record<string, string | undefined>): Promise<GenerationProcess> {
    const g = await GenerationProcess.spawn({ runtimeDir: this.o.runtimeDir, env, onMessage: (gen, m) => this.onStrayMessage(gen, m) });
    this.generations.add(g);
    void g.exited.then(() => this.onExit(g));
    return g;
  }

  /** Starts the standby if there is none (after `delayMs`, when one died unused). */
  private prepareStandby(delayMs = 0): void {
    if (this.o.standby === false || this.stopping || this.standby || this.standbyTimer) return;
    if (delayMs > 0) {
      this.standbyTimer = setTimeout(() => {
        this.standbyTimer = null;
        this.prepareStandby();
      }, delayMs);
      return;
    }
    const env = this.generationEnv();
    // Taken before the spawn: a file changed after this is detected, even one changed while
    // the process was importing it.
    const fingerprint = runtimeFingerprint(this.o.entry);
    const standby: Standby = { ready: this.spawnProcess(env), process: null, env: envKey(env), fingerprint };
    this.standby = standby;
    standby.ready.then(
      (g) => {
        standby.process = g;
        // A stop that began while it was spawning has no use for it.
        if (this.stopping) g.kill();
      },
      (err: Error) => {
        if (this.standby !== standby) return;
        this.standby = null;
        this.standbyDied(err.message);
      },
    );
  }

  /**
   * The standby, taken (a new one is prepared after this reload or restart), if it was spawned
   * with this env and the runtime's files have not changed since; otherwise it is killed.
   */
  private async takeStandby(env: Record<string, string | undefined>): Promise<GenerationProcess | null> {
    if (this.standbyTimer) {
      clearTimeout(this.standbyTimer);
      this.standbyTimer = null;
    }
    const s = this.standby;
    this.standby = null;
    if (!s) return null;
    const g = await s.ready.catch(() => null);
    if (!g || !g.alive) return null;
    const fingerprint = runtimeFingerprint(this.o.entry);
    if (s.env !== envKey(env) || s.fingerprint !== fingerprint) {
      // Spawned with an env or liveframe files that are no longer current: start afresh.
      const what = s.env !== envKey(env) ? "the environment" : changedFile(s.fingerprint, fingerprint);
      console.error(`liveframe: ${what} changed since the standby (pid ${g.pid}) started: starting the new generation afresh`);
      g.kill();
      return null;
    }
    this.standbyFailures = 0;
    return g;
  }

  private standbyPid(): number | undefined {
    const g = this.standby?.process;
    return g && g.alive && g.standingBy ? g.pid : undefined;
  }

  /** The standby died unused: say so, and prepare another (backing off if it keeps dying). */
  private standbyDied(why: string): void {
    if (this.stopping) return;
    this.standbyFailures++;
    const delayMs =
      this.standbyFailures === 1 ? 0 : Math.min(STANDBY_RESPAWN_MAX_MS, STANDBY_RESPAWN_MIN_MS * 2 ** (this.standbyFailures - 2));
    console.error(`liveframe: ${why}; preparing another standby${delayMs > 0 ? ` in ${fmtSeconds(delayMs)}` : ""} (a reload meanwhile spawns its generation directly)`);
    this.prepareStandby(delayMs);
  }

  /** Gives a booted generation the supervisor's listeners; resolves once it accepts on them. */
  private async listenOn(g: GenerationProcess, timeoutMs: number, reserve = 0): Promise<void> {
    const waiting = g.waitFor("listening", timeoutMs, "accepting on the listeners");
    const listen = { type: "listen" as const, listeners: this.listeners.map((l) => l.info), ...(reserve > 0 ? { reserve } : {}) };
    if (!g.send(listen, this.listeners.map((l) => l.fd))) {
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
    const taken = next.waitFor("taken", this.o.drainTimeoutMs + GIVE_GRACE_MS, "done adopting");
    taken.catch(() => {});
    if (!next.send({ type: "take", from: old.number }, [b.stream, b.fds])) {
      // The old generation got nothing and still serves everything it holds: it stays the
      // active one and the reload fails; only the new one goes (it may have accepted a few
      // connections already: those are lost, the old one's are not).
      for (const fd of [a.stream, a.fds, b.stream, b.fds]) close(fd);
      this.active = old;
      next.kill();
      throw new Error(`${next.exit ? next.describeExit() : `${next.name} closed its channel`} before it could take over; generation ${old.number} keeps serving`);
    }
    // Waited for only now: a waiter left behind by a failed take would swallow the `given`
    // of a later reload.
    old.expectingExit = true;
    const given = old.waitFor("given", this.o.drainTimeoutMs + GIVE_GRACE_MS, "done handing over");
    given.catch(() => {});
    const sent = old.send({ type: "give", to: next.number }, [a.stream, a.fds]);
    for (const fd of [a.stream, a.fds, b.stream, b.fds]) close(fd);
    if (!sent) {
      // Its channel is gone (it is dying or dead): the new one serves; bound the old one's life.
      old.kill();
      return none;
    }
    let g: Extract<GenerationMessage, { type: "given" }>;
    try {
      g = await given;
    } catch (err) {
      // The old one crashed or lingers: the new one serves anyway; bound the old one's life.
      console.error(`liveframe: ${(err as Error).message}; the new generation serves; stopping the old one`);
      old.kill();
      return none;
    }
    if (g.error !== undefined) {
      // Nothing moved and the old generation serves everything it held: it stays the active one
      // and the reload fails with its reason. The new one finishes what it accepted meanwhile.
      this.active = old;
      old.expectingExit = false;
      next.expectingExit = true;
      if (!next.send({ type: "stop", timeoutMs: this.o.drainTimeoutMs })) next.kill();
      throw new GiveRefused(g.error);
    }
    await taken.catch(() => {});
    return { connectionsMoved: g.connectionsMoved, requestsDrained: g.requestsDrained, closedBusy: g.closedBusy };
  }

  private onStrayMessage(g: GenerationProcess, m: GenerationMessage): void {
    if (m.type === "given" || m.type === "taken" || m.type === "stopped") return;
    console.error(`liveframe: unexpected ${m.type} from generation ${g.number}: ignored`);
  }

  private onExit(g: GenerationProcess): void {
    this.generations.delete(g);
    if (this.standby?.process === g) {
      this.standby = null;
      if (!g.expectingExit) this.standbyDied(g.describeExit());
      return;
    }
    // A standby that never booted served nothing: no generation exited.
    if (g.number === 0) return;
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
          this.abandonIfStopping(g, "restart");
          await this.listenOn(g, this.o.readyTimeoutMs);
          this.abandonIfStopping(g, "restart");
          this.active = g;
          this.emit({ type: "ready", generation: g.number, pid: g.pid, restart: true });
          this.prepareStandby();
          return;
        } catch (err) {
          if (this.stopping) return;
          console.error(`liveframe: restart failed: ${(err as Error).message}`);
        }
      }
    } finally {
      this.restarting = false;
    }
  }

  // ── control and signals ──────────────────────────────────────────────────────────────

  private async onControl(req: { cmd: "reload"; timeoutMs: number } | { cmd: "status" } | { cmd: "stop" }): Promise<unknown> {
    this.control?.ensure();
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
    on("SIGTERM", () => this.onStopSignal("SIGTERM"));
    on("SIGINT", () => this.onStopSignal("SIGINT"));
  }

  /**
   * The first SIGTERM/SIGINT stops gracefully (drains up to drainTimeoutMs). A second one while
   * stopping does not wait: a generation that does not answer (its event loop blocked, e.g.
   * by app code) must never keep an operator from stopping the server.
   */
  private onStopSignal(sig: string): void {
    if (!this.stopping) {
      void this.stop();
      return;
    }
    console.error(`liveframe: ${sig} again while stopping: ending every generation now (requests still in flight are cut)`);
    for (const g of this.generations) g.kill();
  }

  private async doStop(): Promise<void> {
    this.emit({ type: "stopping" });
    // A generation still booting is killed; one already serving (mid-reload) stops gracefully below.
    const booting = this.reloading?.next;
    if (booting && booting !== this.active) booting.kill();
    // The standby holds nothing: kill it (one still spawning is killed once spawned).
    if (this.standbyTimer) clearTimeout(this.standbyTimer);
    this.standbyTimer = null;
    const standby = this.standby;
    this.standby = null;
    const spare = await standby?.ready.catch(() => null);
    spare?.kill();
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

/** The old generation could not hand over (the new one cannot take everything, or the give's fds were lost) and keeps serving. */
class GiveRefused extends Error {
  override readonly name = "GiveRefused";
}

/**
 * Where a generation's boot time went (the `reloaded` event carries it; bench/reload/boot-phases.ts
 * reports it): process start → liveframe's runtime imported (off the reload's path for a
 * standby), then on the reload's path: the app's import, and the rest of the boot (start hook,
 * server built).
 */
function bootPhases(g: GenerationProcess): { standby: boolean; runtimeMs?: number; appMs?: number; bootMs?: number } {
  return { standby: g.prestarted, runtimeMs: g.runtimeMs ?? undefined, appMs: g.readyReport?.appMs, bootMs: g.readyReport?.bootMs };
}
