// Old generations finishing busy requests in the background after a reload: how many may do so
// at once, how long, where their late connections go, and how each one's drain ended (recorded
// on the reload that made it drain). The supervisor owns one of these.
import type { GenerationProcess } from "./generation-process.ts";
import { fmtSeconds } from "./generation-process.ts";
import type { DrainingGeneration, ReloadOutcome, SupervisorEvent } from "./types.ts";

/**
 * At most this many old generations drain at once. Each holds a process (its app, its memory)
 * and busy connections; reloads in a tight loop (a save storm under `dev`, a deploy script
 * retrying) must not pile them up. Beyond this the oldest has its busy requests cut (logged).
 */
export const MAX_DRAINING_GENERATIONS = 4;
/** How long a draining generation may take beyond its drain deadline to hand over and exit before it is killed. */
export const GIVE_GRACE_MS = 10_000;

/** How a drain ended, as its generation reported it (`given`), or as the supervisor saw it end. */
export interface DrainCounts {
  requestsCompleted: number;
  requestsCut: number;
  movedLate: number;
}

interface Draining {
  g: GenerationProcess;
  /** Date.now() when its busy requests are cut. */
  deadlineAt: number;
  /** The generation its late connections go to (0: nobody; its peer died, waiting for a replacement). */
  handingTo: number;
  /** The reload that made it drain: its outcome gets the drain's result. */
  outcome: ReloadOutcome | null;
  killTimer: ReturnType<typeof setTimeout>;
  /** Why it was cut early (the bound on draining generations). */
  cutReason?: string;
}

export class DrainingGenerations {
  private readonly byProcess = new Map<GenerationProcess, Draining>();

  constructor(
    private readonly drainTimeoutMs: number,
    private readonly emit: (e: SupervisorEvent) => void,
  ) {}

  has(g: GenerationProcess): boolean {
    return this.byProcess.has(g);
  }

  /** ISO time `g`'s busy requests are cut (now if it is not draining). */
  deadlineOf(g: GenerationProcess): string {
    return new Date(this.byProcess.get(g)?.deadlineAt ?? Date.now()).toISOString();
  }

  /**
   * `g` drains in the background into generation `to`; bounded in time (killed GIVE_GRACE_MS past
   * its deadline) and in number (beyond MAX_DRAINING_GENERATIONS the oldest is cut).
   */
  add(g: GenerationProcess, to: number, outcome: ReloadOutcome | null): void {
    if (this.byProcess.has(g)) return;
    const early = g.givenReport;
    if (early || !g.alive) {
      // Nothing was busy: it finished before it was listed (its `given` can arrive with `handed-over`).
      if (early && outcome) record(outcome, { generation: g.number, ...counts(early), at: new Date().toISOString() });
      return;
    }
    const others = [...this.byProcess.values()].filter((d) => d.g.alive && !d.cutReason);
    if (others.length >= MAX_DRAINING_GENERATIONS) this.cutOldest(others[0]!);
    const killTimer = setTimeout(() => {
      if (!g.alive) return;
      console.error(`liveframe: ${g.name} is still draining ${fmtSeconds(GIVE_GRACE_MS)} past its drain deadline: killing it`);
      g.kill();
    }, this.drainTimeoutMs + GIVE_GRACE_MS);
    this.byProcess.set(g, { g, deadlineAt: Date.now() + this.drainTimeoutMs, handingTo: to, outcome, killTimer });
  }

  private cutOldest(oldest: Draining): void {
    const reason = `${MAX_DRAINING_GENERATIONS} generations are draining already (the most at once)`;
    oldest.cutReason = reason;
    console.error(`liveframe: ${reason}: cutting generation ${oldest.g.number}'s ${oldest.g.counts.busy} busy connections now`);
    this.emit({ type: "drain-cut", generation: oldest.g.number, busy: oldest.g.counts.busy, reason });
    if (!oldest.g.send({ type: "cut", reason })) oldest.g.kill();
  }

  /** Those whose late connections do not go to `serving` yet (alive, not `serving` itself). */
  notHandingTo(serving: GenerationProcess): GenerationProcess[] {
    return [...this.byProcess.values()].filter((d) => d.handingTo !== serving.number && d.g.alive && d.g !== serving).map((d) => d.g);
  }

  /** `g` hands its late connections to generation `to` now (0: to nobody, its peer died). */
  handingTo(g: GenerationProcess, to: number): void {
    const d = this.byProcess.get(g);
    if (d) d.handingTo = to;
  }

  /** `g` finished (its `given`) or ended otherwise (`note`): log it and record it on its reload. */
  finish(g: GenerationProcess, r: DrainCounts, note?: string): void {
    const d = this.byProcess.get(g);
    if (!d) return;
    this.byProcess.delete(g);
    clearTimeout(d.killTimer);
    const why = note ?? (d.cutReason ? `cut early: ${d.cutReason}` : undefined);
    const result = { generation: g.number, ...counts(r), ...(why ? { note: why } : {}), at: new Date().toISOString() };
    if (d.outcome) record(d.outcome, result);
    this.emit({ type: "drained", ...result });
  }

  /** What `status` shows. */
  report(): DrainingGeneration[] {
    return [...this.byProcess.values()]
      .filter((d) => d.g.alive)
      .map((d) => ({
        generation: d.g.number,
        pid: d.g.pid,
        busy: d.g.counts.busy,
        open: d.g.counts.open,
        deadline: new Date(d.deadlineAt).toISOString(),
        handingTo: d.handingTo,
      }));
  }

  /** A stop takes over: no more kill timers. */
  stopTimers(): void {
    for (const d of this.byProcess.values()) clearTimeout(d.killTimer);
  }
}

function counts(r: DrainCounts): DrainCounts {
  return { requestsCompleted: r.requestsCompleted, requestsCut: r.requestsCut, movedLate: r.movedLate };
}

function record(outcome: ReloadOutcome, result: NonNullable<ReloadOutcome["drained"]>): void {
  outcome.drained = result;
  outcome.requestsDrained = result.requestsCompleted;
  outcome.closedBusy = result.requestsCut;
}
