// The supervisor: owns the listeners and the control socket, runs one serving generation at a
// time (old and new both serve for the moment of a handover), replaces a crashed one, and
// reloads on request. A reload returns once the new generation serves and the idle connections
// moved; old generations with busy requests drain in the background (bounded in number and
// time) and hand each connection to the generation serving *now* as it becomes idle. It keeps
// the next generation's process started ahead of need (the standby, see standby.ts): a reload
// or restart then only imports the app. Its phase is one field (phase.ts).
import { close } from "../../ffi/index.ts";
import { channelPair, type BootConfig, type GenerationMessage } from "../handoff/index.ts";
import { ControlServer, missingStateMessage } from "./control.ts";
import { fmtSeconds, GenerationProcess } from "./generation-process.ts";
import { backoffMs } from "./backoff.ts";
import { closeListeners, openListeners, type Listener } from "./listeners.ts";
import { DrainingGenerations } from "./draining.ts";
import { PhaseMachine } from "./phase.ts";
import { prepareRuntimeDir } from "./runtime-dir.ts";
import { MetricsEndpoint } from "../metrics/index.ts";
import { changedFile, envKey, runtimeFingerprint } from "./standby.ts";
import type { ReloadOutcome, StatusReport, Supervisor, SupervisorEvent, SupervisorOptions, WorkerStatus } from "./types.ts";
import type { BootBarrier } from "./boot-barrier.ts";
import { answerControl, installSignals, type Front } from "./front.ts";

/**
 * Which worker slot this supervisor runs (workers.ts runs one per slot with --workers N > 1).
 * `shared`: the listeners, control socket and signals belong to the worker pool, not to it.
 */
export interface WorkerSlot {
  worker: number;
  workers: number;
  shared: boolean;
}
const ONLY_SLOT: WorkerSlot = { worker: 0, workers: 1, shared: false };

/** `status` shows this many recent reloads. */
const RELOAD_HISTORY = 20;
/**
 * How long the old generation may take to report that its idle connections moved. Moving 1,000
 * idle connections takes tens of ms; this bounds a reload whose old generation is frozen (SIGSTOP)
 * or overloaded: the reload then reports what the new generation observed and returns.
 */
const HANDOVER_REPORT_TIMEOUT_MS = 10_000;
/** After the old generation died mid-handover, how long to wait for the new one's final adoption count. */
const TAKEN_AFTER_DEATH_MS = 2_000;
/** How long a generation made to serve again (its successor died mid-takeover) may take to accept. */
const RELISTEN_TIMEOUT_MS = 5_000;
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

/**
 * After the old generation says the new one went away mid-handover, how long to wait for the new
 * one's exit to be seen (it was usually killed: the outcome then says so, with what died with it).
 */
const PEER_EXIT_WAIT_MS = 1000;

/** How a handover's first step ended. */
type HandoverStart =
  | { kind: "handed-over"; connectionsMoved: number; busy: number }
  | { kind: "next-died" }
  | { kind: "give-aborted"; reason: string; accepting: boolean; cause?: "peer-gone" | "no-channel" | "capacity"; connectionsMoved?: number }
  | { kind: "old-died"; connectionsMoved: number; connectionsLost: number; how: string }
  | { kind: "silent"; connectionsMoved: number; why: string };

/** The next generation's process, spawned ahead of need, and what it was spawned with. */
interface Standby {
  /** Resolves once spawned with its channel open (it may still be importing the runtime). */
  ready: Promise<GenerationProcess>;
  process: GenerationProcess | null;
  /** Spawned with this env and these runtime files: if either changed since, it is not used. */
  env: string;
  fingerprint: string;
}

export class SupervisorProcess implements Supervisor, Front {
  readonly exited: Promise<number>;
  private resolveExited!: (code: number) => void;
  private active!: GenerationProcess;
  private readonly generations = new Set<GenerationProcess>();
  private nextNumber = 1;
  private readonly phase = new PhaseMachine<GenerationProcess>();
  private readonly draining: DrainingGenerations;
  private readonly reloads: ReloadOutcome[] = [];
  private restarts = 0;
  private crashesInARow = 0;
  private readonly startedAt = performance.now();
  private control: ControlServer | null = null;
  private removeSignals: () => void = () => {};
  private standby: Standby | null = null;
  private standbyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Standbys in a row that died unused (reset when one is used). */
  private standbyFailures = 0;
  /** metrics: the /metrics listener and counters region (--metrics), or null. */
  private metrics: MetricsEndpoint | null = null;
  /** metrics: false for a pool's slot, whose pool owns the endpoint (closes it, tells it the events). */
  private ownsMetrics = true;

  private constructor(
    private readonly o: SupervisorOptions,
    private readonly listeners: Listener[],
    readonly slot: WorkerSlot = ONLY_SLOT,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.draining = new DrainingGenerations(o.drainTimeoutMs, (e) => this.emit(e));
  }

  static async start(o: SupervisorOptions): Promise<SupervisorProcess> {
    const controlPath = await prepareRuntimeDir(o.runtimeDir);
    const listeners = openListeners(o);
    const s = new SupervisorProcess(o, listeners);
    try {
      // metrics: the region must exist before generation 1 boots; a bad address fails the start here.
      if (o.metrics) s.metrics = MetricsEndpoint.start({ runtimeDir: o.runtimeDir, address: o.metrics, gauges: () => s.metricsGauges() });
      s.active = await s.bootGeneration();
      await s.listenOn(s.active, o.readyTimeoutMs);
    } catch (err) {
      for (const g of s.generations) g.kill();
      if (!o.listenFds) closeListeners(listeners);
      s.metrics?.close(); // metrics
      throw err;
    }
    try {
      s.control = new ControlServer(controlPath, (req) => answerControl(s, s.control, req));
    } catch (err) {
      s.active.kill();
      if (!o.listenFds) closeListeners(listeners);
      s.metrics?.close(); // metrics
      throw new Error(`cannot create the control socket ${controlPath}: ${(err as Error).message}`);
    }
    s.phase.serve();
    if (o.handleSignals !== false) s.removeSignals = installSignals(s);
    s.emit({ type: "ready", generation: s.active.number, pid: s.active.pid, listeners: listeners.map((l) => l.info) });
    s.prepareStandby();
    return s;
  }

  /**
   * One worker slot of a pool (workers.ts): its first generation boots and serves on the pool's
   * listeners; no control socket, no signals, and its stop leaves the listeners open.
   */
  static async startWorker(o: SupervisorOptions, listeners: Listener[], slot: WorkerSlot, metrics?: MetricsEndpoint): Promise<SupervisorProcess> {
    const s = new SupervisorProcess(o, listeners, slot);
    // metrics: the pool's one endpoint; this slot's workers count in it under their slot.
    s.metrics = metrics ?? null;
    s.ownsMetrics = false;
    try {
      s.active = await s.bootGeneration();
      await s.listenOn(s.active, o.readyTimeoutMs);
    } catch (err) {
      for (const g of s.generations) g.kill();
      throw err;
    }
    s.phase.serve();
    s.emit({ type: "ready", generation: s.active.number, pid: s.active.pid });
    s.prepareStandby();
    return s;
  }

  /** This slot's serving worker, for `status` (requests: responses it completed, as last reported). */
  workerStatus(): WorkerStatus {
    const g = this.active;
    return {
      worker: this.slot.worker,
      generation: g.number,
      pid: g.pid,
      connections: g.alive ? g.counts.open : 0,
      requests: g.counts.completed ?? 0,
      phase: this.phase.name,
      restarts: this.restarts,
    };
  }

  /** Why a reload cannot start now (null: it can). The worker pool asks every slot first. */
  reloadRefusal(): string | null {
    return this.whyNoReloadNow();
  }

  /**
   * Makes this slot's serving worker accept on `listeners` too (another slot's reuseport
   * socket while that slot restarts). False if this slot is not serving or its worker cannot
   * be told. It accepts there until it hands over (a reload's new worker gets only its own).
   */
  lend(listeners: Listener[]): boolean {
    if (this.phase.name !== "serving" || !this.active.alive) return false;
    return this.active.send({ type: "listen", listeners: listeners.map((l) => l.info) }, listeners.map((l) => l.fd));
  }

  /** Ends every process of this slot at once (a second stop signal: endNow, here or in the pool). */
  killAll(): void {
    for (const g of this.generations) g.kill();
  }

  /** The number the next generation of this slot gets. */
  get nextGeneration(): number {
    return this.nextNumber;
  }

  /** The pool gives every slot's next generation one number (a slot's crash restart may have used one). */
  alignNextGeneration(n: number): void {
    if (n > this.nextNumber) this.nextNumber = n;
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
      phase: this.phase.name,
      draining: this.draining.report(),
      readyTimeoutMs: this.o.readyTimeoutMs,
      ...(this.metrics ? { metricsUrl: this.metrics.url } : {}), // metrics
      workerPids: [this.active.pid],
      workers: [this.workerStatus()],
    };
  }

  /** metrics: what only the supervisor knows at scrape time (the pool asks each slot's openConnections). */
  private metricsGauges(): { openConnections: number[]; generation: number } {
    return { openConnections: [this.openConnections()], generation: this.active?.number ?? 0 };
  }

  /** Client connections held by every live generation of this slot (serving, draining), as last reported. */
  openConnections(): number {
    let open = 0;
    for (const g of this.generations) if (g.alive) open += g.counts.open;
    return open;
  }

  /** The generation this slot serves now (0 before its first serves). */
  get servingGeneration(): number {
    return this.active?.number ?? 0;
  }

  /**
   * `barrier` (the worker pool's): once this slot's new generation has booted, wait until every
   * slot's has; if any failed, this one is killed too and every old worker keeps serving.
   */
  async reload(opts: { timeoutMs?: number; reason?: string } = {}, barrier?: BootBarrier): Promise<ReloadOutcome> {
    let from = this.active;
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
    const notNow = this.whyNoReloadNow();
    if (notNow !== null) {
      barrier?.failed(this.slot.worker, new Error(notNow));
      return refused(notNow);
    }
    // The runtime dir may have been removed since the last look: put it back first, and never
    // start a generation whose state file went away (it would start that state empty).
    this.control?.ensure();
    const lost = (await this.control?.waitForStateFiles()) ?? [];
    if (lost.length > 0) {
      barrier?.failed(this.slot.worker, new Error(missingStateMessage(lost)));
      return refused(missingStateMessage(lost));
    }
    // A reload, restart or stop may have begun (or a restart come and gone) while this one waited.
    const stillNot = this.whyNoReloadNow();
    if (stillNot !== null || this.active !== from) {
      from = this.active;
      barrier?.failed(this.slot.worker, new Error(stillNot ?? "a crashed generation was replaced"));
      return refused(`${stillNot ?? "a crashed generation was replaced"} while this reload waited for a state file: retry`);
    }
    const timeoutMs = opts.timeoutMs ?? this.o.readyTimeoutMs;
    const t0 = performance.now();
    const at = new Date().toISOString();
    const reloading = this.phase.reload(from.number, this.nextNumber, t0);
    this.emit({ type: "reloading", from: from.number, reason: opts.reason });
    let next: GenerationProcess | undefined;
    let outcome: ReloadOutcome;
    try {
      try {
        next = await this.bootGeneration(timeoutMs, (g) => (reloading.next = g));
      } catch (err) {
        barrier?.failed(this.slot.worker, err as Error);
        throw err;
      }
      // Every slot's new worker must have booted before any takes over (all or nothing).
      if (barrier) await barrier.booted(this.slot.worker);
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
      outcome = {
        ok: true,
        from: from.number,
        to: next.number,
        pid: next.pid,
        readyMs,
        servingMs,
        totalMs: 0,
        connectionsMoved: 0,
        requestsDrained: 0,
        standby: next.prestarted,
        reason: opts.reason,
        at,
      };
      await this.handOver(old, next, outcome);
      outcome.totalMs = performance.now() - t0;
    } catch (err) {
      // One handing back what it accepted drains instead; one that could not hand back finishes
      // what it accepted (a graceful stop was sent).
      if (next && next !== this.active && !this.draining.has(next) && !next.stopSent) next.kill();
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
    }
    if (!this.phase.stopping) this.phase.serve();
    this.reloads.push(outcome);
    if (this.reloads.length > RELOAD_HISTORY) this.reloads.shift();
    this.emit({ type: outcome.ok ? "reloaded" : "reload-failed", outcome, ...(outcome.ok && next ? { phases: bootPhases(next) } : {}) });
    // Whoever serves now died during the reload: nobody serves, so start the app again.
    if (!this.active.alive && !this.phase.stopping) void this.restartAfterCrash(this.active);
    else if (!this.phase.stopping) {
      this.repointDraining();
      this.prepareStandby();
    }
    return outcome;
  }

  /** Why a reload cannot start in the current phase, or null if it can (serving). */
  private whyNoReloadNow(): string | null {
    const p = this.phase.current;
    switch (p.name) {
      case "serving":
        return null;
      case "booting":
        return "the server is still starting: retry once it serves";
      case "stopping":
        return "the server is stopping: nothing to reload";
      case "reloading":
        return `a reload is already in progress (generation ${p.from} → ${p.to}, started ${fmtSeconds(performance.now() - p.startedAt)} ago): wait for it to finish, then retry`;
      case "restarting":
        return `the supervisor is restarting a crashed generation (attempt ${this.crashesInARow}); each attempt loads ${this.o.entry} afresh, so a fixed app is picked up by the next one`;
    }
  }

  stop(): Promise<void> {
    const p = this.phase.current;
    if (p.name === "stopping") return p.done;
    const booting = p.name === "reloading" ? p.next : null;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.phase.stop(done);
    void this.doStop(booting).then(resolveDone);
    return done;
  }

  /**
   * A stop that began while a reload or restart awaited its new generation: that generation
   * must not go on to listen or take (the stop has already told the others to finish).
   */
  private abandonIfStopping(g: GenerationProcess, what: "reload" | "restart"): void {
    if (!this.phase.stopping) return;
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
      ...(this.metrics ? { metricsFile: this.metrics.file } : {}), // metrics
      ...(this.slot.workers > 1 ? { worker: this.slot.worker, workers: this.slot.workers } : {}),
    };
    const env = this.generationEnv();
    let g = await this.takeStandby(env);
    if (g && this.phase.stopping) {
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
      if (this.phase.stopping) {
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
    const g = await GenerationProcess.spawn({ runtimeDir: this.o.runtimeDir, env, onMessage: (gen, m) => this.onGenerationMessage(gen, m) });
    this.generations.add(g);
    void g.exited.then(() => this.onExit(g));
    return g;
  }

  /** Starts the standby if there is none (after `delayMs`, when one died unused). */
  private prepareStandby(delayMs = 0): void {
    if (this.o.standby === false || this.phase.stopping || this.standby || this.standbyTimer) return;
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
        if (this.phase.stopping) g.kill();
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
    if (this.phase.stopping) return;
    this.standbyFailures++;
    const delayMs = backoffMs(this.standbyFailures, STANDBY_RESPAWN_MIN_MS, STANDBY_RESPAWN_MAX_MS);
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
   * Connects `from` and `to` by a fresh channel and tells `to` to take and `from` to give.
   * False if `to` cannot be told (it is gone): `from` was told nothing and keeps what it holds.
   */
  private connect(from: GenerationProcess, to: GenerationProcess): { took: boolean; gave: boolean } {
    const [a, b] = channelPair();
    try {
      if (!to.send({ type: "take", from: from.number }, [b.stream, b.fds])) return { took: false, gave: false };
      return { took: true, gave: from.send({ type: "give", to: to.number }, [a.stream, a.fds]) };
    } finally {
      for (const fd of [a.stream, a.fds, b.stream, b.fds]) close(fd);
    }
  }

  /**
   * The reload's handover: the old generation hands its idle connections to the new one at
   * once and reports; busy ones finish in the background (see `draining`). Fills `outcome`
   * with what is known. Throws when the reload failed: the new generation died mid-takeover
   * or the old one could not give; the old one then serves again with all it still holds.
   */
  private async handOver(old: GenerationProcess, next: GenerationProcess, outcome: ReloadOutcome): Promise<void> {
    if (!old.alive) {
      // It crashed meanwhile: its connections died with it.
      outcome.oldGenerationDied = old.describeExit();
      return;
    }
    const heldBefore = old.counts.open;
    const reported = old.waitForAny(["handed-over", "give-aborted"], HANDOVER_REPORT_TIMEOUT_MS, "done handing over its idle connections");
    reported.catch(() => {});
    old.expectingExit = true;
    const { took, gave } = this.connect(old, next);
    if (!took) {
      // The old generation got nothing and still serves everything it holds: it stays the
      // active one and the reload fails; only the new one goes (it may have accepted a few
      // connections already: those are lost, the old one's are not).
      old.expectingExit = false;
      this.active = old;
      next.kill();
      throw new Error(`${next.exit ? next.describeExit() : `${next.name} closed its channel`} before it could take over; generation ${old.number} keeps serving`);
    }
    if (!gave) old.kill(); // its channel is gone (it is dying or dead): bound its life
    const start = await this.firstReport(old, next, reported, heldBefore);
    switch (start.kind) {
      case "handed-over":
        outcome.connectionsMoved = start.connectionsMoved;
        outcome.busyDraining = start.busy;
        this.draining.add(old, next.number, outcome);
        outcome.drainDeadline = this.draining.deadlineOf(old);
        return;
      case "old-died":
        outcome.connectionsMoved = start.connectionsMoved;
        outcome.connectionsLost = start.connectionsLost;
        outcome.oldGenerationDied = start.how;
        return;
      case "silent":
        outcome.connectionsMoved = start.connectionsMoved;
        this.draining.add(old, next.number, outcome);
        outcome.drainDeadline = this.draining.deadlineOf(old);
        console.error(`liveframe: ${start.why}`);
        return;
      case "next-died":
      case "give-aborted": {
        // The old generation saw the new one go (peer-gone): most often it was killed, and its
        // exit reaches us a moment later. Wait for it (bounded) so the outcome says what happened.
        if (start.kind === "give-aborted" && start.cause === "peer-gone" && next.alive) {
          await Promise.race([next.exited, Bun.sleep(PEER_EXIT_WAIT_MS)]);
        }
        // Its last `taking` may still be in its channel: read to the end first.
        if (!next.alive) await next.channelClosed;
        // What died with it: what the old generation saw it confirm (it closed its copies then),
        // else what the new one said it took.
        const lost = (start.kind === "give-aborted" ? start.connectionsMoved : undefined) ?? next.adoptedFrom.get(old.number) ?? 0;
        // Nothing moved when the give could not start (no channel, or no room for everything at
        // the new generation): its reason is the whole story (with what to do).
        const nothingMoved = start.kind === "give-aborted" && (start.cause === "capacity" || start.cause === "no-channel");
        const cause =
          start.kind === "next-died" || !next.alive
            ? `${next.describeExit()} while taking over${lost > 0 ? ` (the ${lost} connections it had taken died with it)` : ""}`
            : nothingMoved
              ? start.reason
              : `generation ${old.number} could not hand over: ${start.reason}`;
        this.active = old;
        old.expectingExit = false;
        await this.serveAgain(old, next, start.kind === "give-aborted" && start.accepting);
        if (nothingMoved) throw new Error(cause);
        throw new Error(`${cause}; generation ${old.number} serves again with every connection it still holds`);
      }
    }
  }

  /** Waits for the old generation's first report, the new one's death, or the old one's. */
  private async firstReport(
    old: GenerationProcess,
    next: GenerationProcess,
    reported: Promise<
      | { type: "handed-over"; connectionsMoved: number; busy: number }
      | { type: "give-aborted"; reason: string; accepting?: boolean; cause?: "peer-gone" | "no-channel" | "capacity"; connectionsMoved?: number }
    >,
    heldBefore: number,
  ): Promise<HandoverStart> {
    const nextDied = next.exited.then(() => ({ kind: "next-died" }) as const);
    const r = await Promise.race([
      reported.then(
        (m) =>
          m.type === "handed-over"
            ? ({ kind: "handed-over", connectionsMoved: m.connectionsMoved, busy: m.busy } as const)
            : ({ kind: "give-aborted", reason: m.reason, accepting: m.accepting === true, cause: m.cause, connectionsMoved: m.connectionsMoved } as const),
        (err: Error) => ({ kind: "failed", err }) as const,
      ),
      nextDied,
    ]);
    if (r.kind !== "failed") return r;
    const observed = async () => {
      // The new generation's own count of what it adopted from the old one: what really moved.
      if (!next.takenFrom.has(old.number) && next.alive) await next.waitFor("taken", TAKEN_AFTER_DEATH_MS, "done adopting").catch(() => {});
      return next.adoptedFrom.get(old.number) ?? 0;
    };
    if (!old.alive) {
      if (!next.alive) return { kind: "next-died" };
      const moved = await observed();
      return { kind: "old-died", connectionsMoved: moved, connectionsLost: Math.max(0, heldBefore - moved), how: `${old.describeExit()} while handing over` };
    }
    const moved = next.adoptedFrom.get(old.number) ?? 0;
    return {
      kind: "silent",
      connectionsMoved: moved,
      why: `${r.err.message}; ${moved} connections have moved so far; it keeps draining until its deadline, then it is killed`,
    };
  }

  /**
   * The generation `old` was handing over to is gone, or could not take: `old` stops handing
   * over and accepts again (it still holds every connection the other did not confirm). If the
   * other one is alive (it accepted connections meanwhile), it hands them back to `old`.
   */
  private async serveAgain(old: GenerationProcess, next: GenerationProcess, stillAccepting: boolean): Promise<void> {
    if (!stillAccepting) {
      const listening = old.waitFor("listening", RELISTEN_TIMEOUT_MS, "accepting again");
      listening.catch(() => {});
      if (!old.send({ type: "listen", listeners: this.listeners.map((l) => l.info) }, this.listeners.map((l) => l.fd))) return;
      try {
        await listening;
      } catch (err) {
        console.error(`liveframe: ${(err as Error).message}`);
        return;
      }
    }
    if (!next.alive) return;
    // It served for a moment: what it accepted goes back to `old`, as in a reload.
    next.expectingExit = true;
    const reported = next.waitForAny(["handed-over", "give-aborted"], HANDOVER_REPORT_TIMEOUT_MS, "done handing back");
    reported.catch(() => {});
    const { took, gave } = this.connect(next, old);
    if (!took || !gave) {
      next.kill();
      return;
    }
    const start = await this.firstReport(next, old, reported, next.counts.open);
    if (start.kind === "handed-over" || start.kind === "silent") this.draining.add(next, old.number, null);
    else if (start.kind === "give-aborted" && next.alive) this.stopGracefully(next, `it could not hand back to generation ${old.number}: ${start.reason}`);
    else next.kill();
  }

  /**
   * `g` leaves on its own: it stops accepting, finishes what it serves (idle connections close at
   * a request boundary), and exits; killed if it takes longer than a stop may.
   */
  private stopGracefully(g: GenerationProcess, why: string): void {
    console.error(`liveframe: ${g.name} stops gracefully: ${why}`);
    g.expectingExit = true;
    g.stopSent = true;
    if (!g.send({ type: "stop", timeoutMs: this.o.drainTimeoutMs })) {
      g.kill();
      return;
    }
    const killer = setTimeout(() => g.kill(), this.o.drainTimeoutMs + STOP_GRACE_MS);
    killer.unref();
    void g.exited.then(() => clearTimeout(killer));
  }

  /** Points every draining generation at the generation serving now (late connections go there). */
  private repointDraining(): void {
    const active = this.active;
    if (!active.alive) return;
    for (const g of this.draining.notHandingTo(active)) {
      const { took, gave } = this.connect(g, active);
      if (took && gave) this.draining.handingTo(g, active.number);
    }
  }

  /** Messages no waiter claimed: a draining generation's news, or a stray. */
  private onGenerationMessage(g: GenerationProcess, m: GenerationMessage): void {
    const draining = this.draining.has(g);
    if (m.type === "given" && draining) {
      this.draining.finish(g, m);
      return;
    }
    if (m.type === "give-aborted" && draining) {
      // The generation it handed to is gone: it serves what it holds until one serves again.
      this.draining.handingTo(g, 0);
      console.error(`liveframe: generation ${g.number} is draining and ${m.reason}; it keeps its ${m.open} connections (${m.busy} busy) until a generation serves`);
      if (this.phase.name === "serving") this.repointDraining();
      return;
    }
    if (m.type === "given" || m.type === "taken" || m.type === "stopped" || m.type === "handed-over" || m.type === "give-aborted" || m.type === "listening") return;
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
    const draining = this.draining.has(g);
    // A draining generation that exits without `given` died with whatever it still held.
    if (draining && g.givenReport) this.draining.finish(g, g.givenReport);
    else if (draining) {
      const note = `${g.describeExit()} while draining: its ${g.counts.open} connections (${g.counts.busy} busy) were lost`;
      this.draining.finish(g, { requestsCompleted: 0, requestsCut: g.counts.busy, movedLate: 0 }, note);
    }
    this.emit({ type: "generation-exited", generation: g.number, pid: g.pid, code: e.code, signal: e.signal, expected: g.expectingExit && !draining });
    if (g !== this.active || g.expectingExit || this.phase.stopping) return;
    // During a reload the new generation takes over anyway; if that reload fails, it restarts.
    if (this.phase.name === "reloading") return;
    void this.restartAfterCrash(g);
  }

  /** Replaces a generation that died while serving; the listeners keep queueing meanwhile. */
  private async restartAfterCrash(dead: GenerationProcess): Promise<void> {
    if (this.phase.name !== "serving") return;
    if (performance.now() - dead.startedAt > STABLE_AFTER_MS) this.crashesInARow = 0;
    for (;;) {
      this.crashesInARow++;
      this.restarts++;
      if (this.phase.name === "serving") this.phase.restart(this.crashesInARow);
      else if (this.phase.name !== "restarting") return;
      const delayMs = backoffMs(this.crashesInARow, RESTART_BACKOFF_MIN_MS, RESTART_BACKOFF_MAX_MS);
      const reason =
        this.crashesInARow > 2
          ? `crash loop: ${dead.describeExit()} (${this.crashesInARow} failures in a row); backing off ${fmtSeconds(delayMs)}`
          : dead.describeExit();
      this.emit({ type: "restarting", generation: this.nextNumber, delayMs, reason, attempt: this.crashesInARow });
      if (delayMs > 0) await Bun.sleep(delayMs);
      if (this.phase.stopping) return;
      try {
        const g = await this.bootGeneration();
        this.abandonIfStopping(g, "restart");
        await this.listenOn(g, this.o.readyTimeoutMs);
        this.abandonIfStopping(g, "restart");
        this.active = g;
        this.phase.serve();
        this.emit({ type: "ready", generation: g.number, pid: g.pid, restart: true });
        // Generations that were draining into the dead one hand their late connections here.
        this.repointDraining();
        this.prepareStandby();
        return;
      } catch (err) {
        if (this.phase.stopping) return;
        console.error(`liveframe: restart failed: ${(err as Error).message}`);
      }
    }
  }

  // ── control and signals (front.ts) ──────────────────────────────────────────────────

  get stopRequested(): boolean {
    return this.phase.stopping;
  }
  readonly unitName = "generation";
  /** A second stop signal: every generation of this supervisor ends now. */
  endNow(): void {
    this.killAll();
  }

  private async doStop(booting: GenerationProcess | null): Promise<void> {
    this.emit({ type: "stopping" });
    // A generation still booting is killed; one already serving (mid-reload) stops gracefully below.
    if (booting && booting !== this.active) booting.kill();
    // The standby holds nothing: kill it (one still spawning is killed once spawned).
    if (this.standbyTimer) clearTimeout(this.standbyTimer);
    this.standbyTimer = null;
    const standby = this.standby;
    this.standby = null;
    const spare = await standby?.ready.catch(() => null);
    spare?.kill();
    this.draining.stopTimers();
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
    if (!this.o.listenFds && !this.slot.shared) closeListeners(this.listeners);
    this.removeSignals();
    this.emit({ type: "stopped", code: 0 });
    // Answer a pending `liveframe stop` before the control socket goes away.
    setTimeout(() => {
      this.control?.stop();
      if (this.ownsMetrics) this.metrics?.close(); // metrics
      this.resolveExited(0);
    }, 50);
  }

  private emit(e: SupervisorEvent): void {
    if (this.ownsMetrics) this.metrics?.observe(e); // metrics: reloads, restarts, exits (a pool's slot: the pool tells it)
    try {
      this.o.onEvent?.(e);
    } catch (err) {
      console.error(`liveframe: an onEvent handler threw: ${(err as Error).message}`);
    }
  }
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
