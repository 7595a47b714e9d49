// --workers N > 1: a generation is N worker processes. The pool owns what they share (the
// listeners, the control socket, signals) and runs one SupervisorProcess per worker slot over
// them. By default every worker accepts on the same listening socket (the kernel hands each
// connection to one of them); with --spread reuseport each slot has its own socket in one
// SO_REUSEPORT group, kept open by the supervisor across generations (docs/deploy.md compares
// the two with numbers). A
// reload boots every slot's new worker first (BootBarrier: all or nothing), then each old
// worker hands its connections to the new worker of its slot. A crashed worker is replaced by
// its own slot alone; the others go on serving and the listener keeps queueing meanwhile.
//
// metrics (--metrics): the pool serves one endpoint for every slot (one region, slots = N);
// each slot's workers count in it under `worker="<slot>"`. The pool tells it the events: a
// reload is counted once per pool reload (ok only if every slot reloaded), a crash restart
// under the slot that crashed.
import { MetricsEndpoint } from "../metrics/index.ts";
import { ControlServer, missingStateMessage } from "./control.ts";
import { BootBarrier } from "./boot-barrier.ts";
import { closeListeners, openListeners, openSlotListeners, type Listener } from "./listeners.ts";
import { prepareRuntimeDir } from "./runtime-dir.ts";
import { SupervisorProcess } from "./supervisor.ts";
import type { ReloadOutcome, StatusReport, Supervisor, SupervisorEvent, SupervisorOptions } from "./types.ts";
import { answerControl, installSignals, type Front } from "./front.ts";

/** `status` shows this many recent reloads (as a single-worker supervisor does). */
const RELOAD_HISTORY = 20;
/** Events a slot reports that the pool reports once for all slots instead. */
const POOL_EVENTS = new Set(["reloading", "reloaded", "reload-failed", "stopping", "stopped"]);

export class WorkerPool implements Supervisor, Front {
  readonly exited: Promise<number>;
  private resolveExited!: (code: number) => void;
  private slots: SupervisorProcess[] = [];
  private control: ControlServer | null = null;
  private readonly reloads: ReloadOutcome[] = [];
  private reloadStartedAt: number | null = null;
  private stopping: Promise<void> | null = null;
  private started = false;
  private readonly startedAt = performance.now();
  private removeSignals: () => void = () => {};
  /** metrics: the one /metrics endpoint of every slot (--metrics), or null. */
  private metrics: MetricsEndpoint | null = null;
  /** Slots whose reuseport socket the other workers accept on too (since that slot's crash, until the next reload). */
  private readonly lent = new Set<number>();

  /** What `status` shows: slot 0's listeners (with reuseport every slot's have the same addresses). */
  private readonly listeners: Listener[];

  private constructor(
    private readonly o: SupervisorOptions,
    /** Each slot's listeners: the same ones for every slot (shared), or one reuseport socket per slot. */
    private readonly slotListeners: Listener[][],
  ) {
    this.listeners = slotListeners[0]!;
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  static async start(o: SupervisorOptions): Promise<WorkerPool> {
    const workers = o.workers ?? 1;
    const controlPath = await prepareRuntimeDir(o.runtimeDir);
    // systemd's sockets (LISTEN_FDS) are the listeners there are: shared by every worker.
    const reusePort = o.spread === "reuseport" && !o.listenFds;
    const slotListeners = reusePort ? openSlotListeners(o, workers) : [openListeners(o)];
    while (slotListeners.length < workers) slotListeners.push(slotListeners[0]!);
    const closeAll = () => {
      if (!o.listenFds) for (const l of new Set(slotListeners)) closeListeners(l);
    };
    const pool = new WorkerPool(o, slotListeners);
    try {
      // metrics: the region must exist before any worker boots; a bad address fails the start here.
      if (o.metrics) pool.metrics = MetricsEndpoint.start({ runtimeDir: o.runtimeDir, address: o.metrics, slots: workers, gauges: () => pool.metricsGauges() });
    } catch (err) {
      closeAll();
      throw err;
    }
    const slotOptions = (worker: number): SupervisorOptions => ({
      ...o,
      handleSignals: false,
      onEvent: (e) => pool.fromSlot(worker, e),
    });
    const started = await Promise.allSettled(
      Array.from({ length: workers }, (_, worker) => SupervisorProcess.startWorker(slotOptions(worker), slotListeners[worker]!, { worker, workers, shared: true }, pool.metrics ?? undefined)),
    );
    const failedAt = started.findIndex((r) => r.status === "rejected");
    if (failedAt >= 0) {
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
      closeAll();
      pool.metrics?.close(); // metrics
      const why = ((started[failedAt] as PromiseRejectedResult).reason as Error).message;
      throw new Error(workers > 1 ? `worker ${failedAt} of ${workers}: ${why}` : why);
    }
    pool.slots = started.map((r) => (r as PromiseFulfilledResult<SupervisorProcess>).value);
    try {
      pool.control = new ControlServer(controlPath, (req) => answerControl(pool, pool.control, req));
    } catch (err) {
      for (const s of pool.slots) s.killAll();
      closeAll();
      pool.metrics?.close(); // metrics
      throw new Error(`cannot create the control socket ${controlPath}: ${(err as Error).message}`);
    }
    if (o.handleSignals !== false) pool.removeSignals = installSignals(pool);
    pool.started = true;
    const first = pool.slots[0]!.workerStatus();
    pool.emit({
      type: "ready",
      generation: first.generation,
      pid: first.pid,
      workerPids: pool.slots.map((s) => s.workerStatus().pid),
      listeners: pool.listeners.map((l) => l.info),
    });
    return pool;
  }

  status(): StatusReport {
    const reports = this.slots.map((s) => s.status());
    const first = reports[0]!;
    const workers = this.slots.map((s) => s.workerStatus());
    const notServing = workers.find((w) => w.phase !== "serving");
    return {
      supervisorPid: process.pid,
      generation: first.generation,
      generationPid: first.generationPid,
      uptimeMs: performance.now() - this.startedAt,
      listeners: this.listeners.map((l) => l.info),
      connections: reports.reduce((n, r) => n + r.connections, 0),
      reloads: [...this.reloads],
      restarts: reports.reduce((n, r) => n + r.restarts, 0),
      runtimeDir: this.o.runtimeDir,
      standbyPid: first.standbyPid,
      phase: this.stopping ? "stopping" : this.reloadStartedAt !== null ? "reloading" : (notServing?.phase ?? "serving"),
      draining: reports.flatMap((r) => r.draining ?? []),
      readyTimeoutMs: this.o.readyTimeoutMs,
      ...(this.metrics ? { metricsUrl: this.metrics.url } : {}), // metrics
      workerPids: workers.map((w) => w.pid),
      workers,
    };
  }

  async reload(opts: { timeoutMs?: number; reason?: string } = {}): Promise<ReloadOutcome> {
    const from = this.slots[0]!.workerStatus().generation;
    const refused = (error: string): ReloadOutcome => {
      const outcome: ReloadOutcome = { ok: false, from, totalMs: 0, connectionsMoved: 0, requestsDrained: 0, error, reason: opts.reason, at: new Date().toISOString() };
      this.emit({ type: "reload-failed", outcome, refused: true });
      return outcome;
    };
    const notNow = this.whyNoReloadNow();
    if (notNow !== null) return refused(notNow);
    this.reloadStartedAt = performance.now();
    try {
      this.control?.ensure();
      const lost = (await this.control?.waitForStateFiles()) ?? [];
      if (lost.length > 0) return refused(missingStateMessage(lost));
      const stillNot = this.whyNoReloadNow(true);
      if (stillNot !== null) return refused(`${stillNot} while this reload waited for a state file: retry`);
      return await this.reloadEverySlot(opts);
    } finally {
      this.reloadStartedAt = null;
    }
  }

  /** Why no reload can start now: the pool or one slot is busy. Null: every slot serves. */
  private whyNoReloadNow(waited = false): string | null {
    if (this.stopping) return "the server is stopping: nothing to reload";
    if (this.reloadStartedAt !== null && !waited) {
      return `a reload is already in progress (started ${((performance.now() - this.reloadStartedAt) / 1000).toFixed(1)} s ago): wait for it to finish, then retry`;
    }
    for (const [worker, s] of this.slots.entries()) {
      const why = s.reloadRefusal();
      if (why !== null) return `worker ${worker}: ${why}`;
    }
    return null;
  }

  private async reloadEverySlot(opts: { timeoutMs?: number; reason?: string }): Promise<ReloadOutcome> {
    const t0 = performance.now();
    const at = new Date().toISOString();
    // One generation number for every slot's new worker, past any a slot's crash restart used.
    const number = Math.max(...this.slots.map((s) => s.nextGeneration));
    for (const s of this.slots) s.alignNextGeneration(number);
    const from = this.slots[0]!.workerStatus().generation;
    this.emit({ type: "reloading", from, reason: opts.reason });
    const barrier = new BootBarrier(this.slots.length);
    const parts = await Promise.all(this.slots.map((s) => s.reload(opts, barrier)));
    // Every new worker accepts on its own socket only: a lent socket is its own slot's again.
    if (parts.every((p) => p.ok)) this.lent.clear();
    const outcome = mergeOutcomes(parts, barrier, { from, at, totalMs: performance.now() - t0, reason: opts.reason });
    this.reloads.push(outcome);
    if (this.reloads.length > RELOAD_HISTORY) this.reloads.shift();
    this.emit({ type: outcome.ok ? "reloaded" : "reload-failed", outcome });
    return outcome;
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.emit({ type: "stopping" });
    await Promise.all(this.slots.map((s) => s.stop()));
    if (!this.o.listenFds) for (const l of new Set(this.slotListeners)) closeListeners(l);
    this.removeSignals();
    this.emit({ type: "stopped", code: 0 });
    // Answer a pending `liveframe stop` before the control socket goes away.
    setTimeout(() => {
      this.control?.stop();
      this.metrics?.close(); // metrics
      this.resolveExited(0);
    }, 50);
  }

  /** A slot's event, labelled with its worker; reload and stop events are the pool's own. */
  private fromSlot(worker: number, e: SupervisorEvent): void {
    if (POOL_EVENTS.has(e.type)) return;
    if (e.type === "restarting") this.lendSocketOf(worker);
    // Each slot's first `ready` is folded into the pool's one.
    if (e.type === "ready" && !this.started) return;
    this.emit({ ...e, worker });
  }

  /**
   * With reuseport, the kernel keeps queueing a share of new connections on a crashed worker's
   * socket: the other workers accept on it too until its slot serves again (for a crash loop:
   * until it is fixed), so no connection waits for the restart.
   */
  private lendSocketOf(worker: number): void {
    const own = this.slotListeners[worker]!;
    const shared = new Set(this.slotListeners).size === 1;
    if (shared || this.lent.has(worker) || this.stopping) return;
    const to = this.slots.filter((s, w) => w !== worker && s.lend(own)).map((s) => s.slot.worker);
    if (to.length === 0) return;
    this.lent.add(worker);
    console.error(`liveframe: worker ${worker} is restarting: worker ${to.join(", ")} also accept${to.length === 1 ? "s" : ""} on its socket meanwhile`);
  }

  // ── control and signals (front.ts) ──
  get stopRequested(): boolean {
    return this.stopping !== null;
  }
  readonly unitName = "worker";
  /** A second stop signal: every worker of every slot ends now. */
  endNow(): void {
    for (const s of this.slots) s.killAll();
  }

  /**
   * metrics: open connections per slot; the generation is the highest any worker serves (a
   * slot's crash restart takes a new number, and a reload gives every slot one past them all),
   * so it never goes back. `status` shows worker 0's and each worker's own.
   */
  private metricsGauges(): { openConnections: number[]; generation: number } {
    return {
      openConnections: this.slots.map((s) => s.openConnections()),
      generation: Math.max(0, ...this.slots.map((s) => s.servingGeneration)),
    };
  }

  private emit(e: SupervisorEvent): void {
    this.metrics?.observe(e); // metrics: reloads (once per pool reload), restarts (per worker), exits
    try {
      this.o.onEvent?.(e);
    } catch (err) {
      console.error(`liveframe: an onEvent handler threw: ${(err as Error).message}`);
    }
  }
}

/**
 * One reload outcome from every slot's part: ok only if every slot reloaded; counts summed;
 * `workers` keeps each slot's part (what moved to the new worker of that slot).
 */
export function mergeOutcomes(
  parts: ReloadOutcome[],
  barrier: BootBarrier,
  o: { from: number; at: string; totalMs: number; reason?: string },
): ReloadOutcome {
  const ok = parts.every((p) => p.ok);
  const sum = (f: (p: ReloadOutcome) => number | undefined) => parts.reduce((n, p) => n + (f(p) ?? 0), 0);
  const max = (f: (p: ReloadOutcome) => number | undefined) => Math.max(...parts.map((p) => f(p) ?? 0));
  const first = parts[0]!;
  const outcome: ReloadOutcome = {
    ok,
    from: o.from,
    totalMs: o.totalMs,
    connectionsMoved: sum((p) => p.connectionsMoved),
    requestsDrained: sum((p) => p.requestsDrained),
    reason: o.reason,
    at: o.at,
    workers: parts.map((p, worker) => ({
      worker,
      ok: p.ok,
      ...(p.pid !== undefined ? { pid: p.pid } : {}),
      connectionsMoved: p.connectionsMoved,
      ...(p.busyDraining !== undefined ? { busyDraining: p.busyDraining } : {}),
      ...(p.error !== undefined ? { error: p.error } : {}),
    })),
  };
  if (parts.some((p) => p.to !== undefined)) {
    outcome.to = first.to ?? parts.find((p) => p.to !== undefined)!.to;
    outcome.pid = first.pid;
    outcome.readyMs = max((p) => p.readyMs);
    outcome.servingMs = max((p) => p.servingMs);
    outcome.standby = parts.every((p) => p.standby === true);
  }
  if (parts.some((p) => p.busyDraining !== undefined)) outcome.busyDraining = sum((p) => p.busyDraining);
  const deadline = parts.find((p) => p.drainDeadline)?.drainDeadline;
  if (deadline) outcome.drainDeadline = deadline;
  const died = parts.map((p, w) => (p.oldGenerationDied ? `worker ${w}: ${p.oldGenerationDied}` : null)).filter((x) => x !== null);
  if (died.length > 0) {
    outcome.oldGenerationDied = died.join("; ");
    outcome.connectionsLost = sum((p) => p.connectionsLost);
  }
  if (!ok) {
    if (barrier.cause) {
      outcome.error = `worker ${barrier.cause.worker}: ${barrier.cause.error.message}; no worker took over: every old worker keeps serving`;
    } else {
      const failed = parts.map((p, w) => (p.ok ? null : `worker ${w}: ${p.error ?? "failed"}`)).filter((x) => x !== null);
      const reloaded = parts.map((p, w) => (p.ok ? w : null)).filter((x) => x !== null);
      outcome.error = `${failed.join("; ")}${reloaded.length > 0 ? ` (worker ${reloaded.join(", ")} did reload)` : ""}`;
    }
  }
  return outcome;
}
