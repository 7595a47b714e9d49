// The worker-slot seam: two slot supervisors (SupervisorProcess with a WorkerSlot) reloading
// over one BootBarrier, against stand-in generations (no processes). What must hold: no old
// worker is told to give before every slot's new worker has booted; one slot's failed boot
// fails every slot's reload with each old worker still active and never told to give; the
// merged outcome sums the slots and names each one's part.
import { expect, test } from "bun:test";
import { BootBarrier } from "./boot-barrier.ts";
import { SupervisorProcess, type WorkerSlot } from "./supervisor.ts";
import type { ReloadOutcome, SupervisorOptions } from "./types.ts";
import { offlineOptions } from "./test-options.ts";
import { mergeOutcomes, WorkerPool } from "./workers.ts";

type Msg = { type: string; [k: string]: unknown };

/** A stand-in GenerationProcess: records what it is sent, answers `listen`, says what the test makes it say. */
class Fake {
  exit: { code: number | null; signal: string | null } | null = null;
  expectingExit = false;
  killed = false;
  prestarted = false;
  stopSent = false;
  startedAt = performance.now();
  counts = { open: 0, idle: 0, busy: 0, released: 0, completed: 0 };
  readonly adoptedFrom = new Map<number, number>();
  readonly takenFrom = new Set<number>();
  readonly channelClosed = Promise.resolve();
  givenReport: Msg | null = null;
  readonly sent: string[] = [];
  readonly exited: Promise<unknown>;
  private resolveExited!: (e: unknown) => void;
  private waiters: { types: string[]; resolve(m: Msg): void; reject(e: Error): void }[] = [];
  constructor(
    readonly number: number,
    readonly pid: number,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }
  get alive() {
    return this.exit === null;
  }
  get name() {
    return `generation ${this.number} (pid ${this.pid})`;
  }
  send(m: Msg): boolean {
    if (!this.alive) return false;
    this.sent.push(m.type);
    if (m.type === "listen") queueMicrotask(() => this.say({ type: "listening", count: 1 }));
    return true;
  }
  say(m: Msg): void {
    if (m.type === "given") this.givenReport = m;
    const i = this.waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
  }
  waitFor(type: string, ms: number, what: string): Promise<Msg> {
    return this.waitForAny([type], ms, what);
  }
  waitForAny(types: string[], ms: number, what: string): Promise<Msg> {
    if (this.exit) return Promise.reject(new Error(`${this.name} exited`));
    return new Promise((resolve, reject) => {
      const w = { types, resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name} was not ${what} within ${ms} ms`));
      }, ms).unref();
    });
  }
  kill(): void {
    this.killed = true;
    this.expectingExit = true;
    if (this.exit) return;
    this.exit = { code: null, signal: "SIGKILL" };
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name} was killed`));
    this.resolveExited(this.exit);
  }
  describeExit(): string {
    return `${this.name} ${this.exit ? "was killed by SIGKILL" : "is running"}`;
  }
}

/** Slot `worker` of 2, serving `old`; its reload boots what `boot` returns. */
function slot(worker: number, old: Fake, boot: () => Promise<Fake>): any {
  const o = offlineOptions();
  const Ctor = SupervisorProcess as unknown as new (o: SupervisorOptions, listeners: unknown[], slot: WorkerSlot) => any;
  const s = new Ctor(o, [], { worker, workers: 2, shared: true });
  s.phase.serve();
  s.active = old;
  s.generations.add(old);
  s.bootGeneration = boot;
  s.prepareStandby = () => {};
  s.restartAfterCrash = async () => {};
  return s;
}

test("one slot's new worker fails to boot: every slot's reload fails, the booted new worker is killed and never listens, no old worker is told to give", async () => {
  const old0 = new Fake(1, 100);
  const old1 = new Fake(1, 101);
  const next0 = new Fake(2, 200);
  const s0 = slot(0, old0, async () => next0);
  const s1 = slot(1, old1, async () => {
    await Bun.sleep(5); // slot 0's has booted and waits by then
    throw new Error("generation 2 worker 1 (pid 201) failed to start: database unreachable");
  });
  const barrier = new BootBarrier(2);
  const parts: ReloadOutcome[] = await Promise.all([s0.reload({}, barrier), s1.reload({}, barrier)]);
  expect(parts.map((p) => p.ok)).toEqual([false, false]);
  expect(next0.killed).toBe(true);
  expect(next0.sent).toEqual([]);
  expect(old0.sent).not.toContain("give");
  expect(old1.sent).not.toContain("give");
  expect([s0.active, s1.active]).toEqual([old0, old1]);
  expect([s0.phase.name, s1.phase.name]).toEqual(["serving", "serving"]);
  const merged = mergeOutcomes(parts, barrier, { from: 1, at: "t", totalMs: 1 });
  expect(merged.ok).toBe(false);
  expect(merged.error).toMatch(/^worker 1: generation 2 worker 1 \(pid 201\) failed to start: database unreachable; no worker took over: every old worker keeps serving$/);
});

test("no old worker is told to give before every slot's new worker has booted; then each hands over to the new worker of its own slot, and the merged outcome sums them", async () => {
  const old0 = new Fake(1, 100);
  const old1 = new Fake(1, 101);
  const next0 = new Fake(2, 200);
  const next1 = new Fake(2, 201);
  let bootSlot1!: () => void;
  const slot1Booted = new Promise<void>((r) => (bootSlot1 = r));
  const s0 = slot(0, old0, async () => next0);
  const s1 = slot(1, old1, async () => {
    await slot1Booted;
    return next1;
  });
  const barrier = new BootBarrier(2);
  const reloads = [s0.reload({}, barrier), s1.reload({}, barrier)];
  await Bun.sleep(20);
  expect(next0.sent).toEqual([]); // booted, but waits for slot 1's: it does not even listen yet
  expect(old0.sent).toEqual([]);
  bootSlot1();
  for (let i = 0; i < 500 && !(old0.sent.includes("give") && old1.sent.includes("give")); i++) await Bun.sleep(1);
  expect(next0.sent).toEqual(["listen", "take"]);
  expect(next1.sent).toEqual(["listen", "take"]);
  old0.say({ type: "handed-over", to: 2, connectionsMoved: 7, failed: 0, busy: 1, open: 1 });
  old1.say({ type: "handed-over", to: 2, connectionsMoved: 5, failed: 0, busy: 0, open: 0 });
  const parts: ReloadOutcome[] = await Promise.all(reloads);
  expect([s0.active, s1.active]).toEqual([next0, next1]);
  const merged = mergeOutcomes(parts, barrier, { from: 1, at: "t", totalMs: 1 });
  expect(merged).toMatchObject({ ok: true, from: 1, to: 2, pid: 200, connectionsMoved: 12, busyDraining: 1 });
  expect(merged.workers).toEqual([
    { worker: 0, ok: true, pid: 200, connectionsMoved: 7, busyDraining: 1 },
    { worker: 1, ok: true, pid: 201, connectionsMoved: 5, busyDraining: 0 },
  ]);
  // The old workers finish draining (no timers left behind).
  for (const g of [old0, old1]) g.say({ type: "given", connectionsMoved: 0, movedLate: 0, requestsCompleted: 0, requestsCut: 0, failed: 0 });
  for (const s of [s0, s1]) s.draining.stopTimers();
});

test("a slot whose generation is restarting refuses the reload, and so fails the barrier for the others", async () => {
  const s0 = slot(0, new Fake(1, 100), async () => new Fake(2, 200));
  s0.phase.restart(1);
  const barrier = new BootBarrier(2);
  const outcome: ReloadOutcome = await s0.reload({}, barrier);
  expect(outcome.ok).toBe(false);
  expect(barrier.cause?.worker).toBe(0);
  await expect(barrier.booted(1)).rejects.toThrow(/worker 0's new generation failed to start/);
});

test("a reload that failed in one slot after every worker booted says which workers did reload", () => {
  const barrier = new BootBarrier(2);
  const parts: ReloadOutcome[] = [
    { ok: true, from: 1, to: 2, pid: 200, totalMs: 5, connectionsMoved: 3, requestsDrained: 0 },
    { ok: false, from: 1, totalMs: 5, connectionsMoved: 0, requestsDrained: 0, error: "generation 2 worker 1 (pid 201) was killed by SIGKILL while taking over" },
  ];
  const merged = mergeOutcomes(parts, barrier, { from: 1, at: "t", totalMs: 5 });
  expect(merged.ok).toBe(false);
  expect(merged.error).toBe("worker 1: generation 2 worker 1 (pid 201) was killed by SIGKILL while taking over (worker 0 did reload)");
});

/** A worker pool over stand-in slots (no processes): what it forwards and whom it lends a socket to. */
function pool(spread: "shared" | "reuseport") {
  const events: { type: string; [k: string]: unknown }[] = [];
  const a = [{ fd: 10, info: { address: "127.0.0.1", port: 3000, family: "IPv4" } }];
  const b = [{ fd: 11, info: { address: "127.0.0.1", port: 3000, family: "IPv4" } }];
  const slotListeners = spread === "reuseport" ? [a, b] : [a, a];
  const o = { runtimeDir: "/nonexistent", readyTimeoutMs: 1000, onEvent: (e: { type: string }) => void events.push(e) } as unknown as SupervisorOptions;
  const Ctor = WorkerPool as unknown as new (o: SupervisorOptions, slotListeners: unknown[][]) => any;
  const p = new Ctor(o, slotListeners);
  const lent: { to: number; fds: number[] }[] = [];
  p.slots = [0, 1].map((worker) => ({
    slot: { worker, workers: 2, shared: true },
    lend: (ls: { fd: number }[]) => {
      lent.push({ to: worker, fds: ls.map((l) => l.fd) });
      return true;
    },
  }));
  p.started = true;
  return { p, events, lent };
}

test("reuseport: a slot that starts restarting has its socket lent to the other worker, once (not again per restart attempt); its events are forwarded with its worker", () => {
  const { p, events, lent } = pool("reuseport");
  p.fromSlot(1, { type: "restarting", generation: 2, delayMs: 0, attempt: 1 });
  p.fromSlot(1, { type: "restarting", generation: 2, delayMs: 250, attempt: 2 });
  expect(lent).toEqual([{ to: 0, fds: [11] }]);
  expect(events.filter((e) => e.type === "restarting").map((e) => e.worker)).toEqual([1, 1]);
});

test("shared listener: nothing to lend; a slot's reload and stop events are the pool's own and are not forwarded", () => {
  const { p, events, lent } = pool("shared");
  p.fromSlot(0, { type: "restarting", generation: 2, delayMs: 0, attempt: 1 });
  for (const type of ["reloading", "reloaded", "reload-failed", "stopping", "stopped"]) p.fromSlot(1, { type });
  p.fromSlot(1, { type: "generation-exited", generation: 1, pid: 5 });
  expect(lent).toEqual([]);
  expect(events.map((e) => [e.type, e.worker])).toEqual([
    ["restarting", 0],
    ["generation-exited", 1],
  ]);
});
