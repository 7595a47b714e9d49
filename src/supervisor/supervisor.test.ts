// Reload and restart orchestration against stand-in generations (no processes): what the
// supervisor does when a step fails or a stop begins while it awaits a new generation.
import { expect, test } from "bun:test";
import { MAX_DRAINING_GENERATIONS } from "./draining.ts";
import { SupervisorProcess } from "./supervisor.ts";
import type { SupervisorOptions } from "./types.ts";
import { offlineOptions } from "./test-options.ts";

type Msg = { type: string; [k: string]: unknown };

/**
 * Stands in for a GenerationProcess: records what it was sent, answers waits with what the
 * test makes it say, and dies when told. No process, no socket: the supervisor's decisions only.
 */
class FakeGeneration {
  exit: { code: number | null; signal: string | null } | null = null;
  expectingExit = false;
  killed = false;
  prestarted = false;
  startedAt = performance.now();
  counts = { open: 0, idle: 0, busy: 0, released: 0 };
  readonly adoptedFrom = new Map<number, number>();
  readonly takenFrom = new Set<number>();
  readonly channelClosed = Promise.resolve();
  givenReport: Msg | null = null;
  readonly sent: string[] = [];
  readonly messages: Msg[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Answer `listen` with `listening` (a live generation does). */
  answersListen = true;
  /** Where messages no waiter claims go (the supervisor's onGenerationMessage). */
  stray: (g: FakeGeneration, m: Msg) => void = () => {};
  private resolveExited!: (e: { code: number | null; signal: string | null }) => void;
  private waiters: { types: string[]; resolve(m: Msg): void; reject(e: Error): void }[] = [];
  constructor(
    readonly number: number,
    private readonly channelOpen = true,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }
  get alive() {
    return this.exit === null;
  }
  get name() {
    return `generation ${this.number} (pid ${this.pid})`;
  }
  get pid() {
    return 1000 + this.number;
  }
  send(m: Msg): boolean {
    if (!this.channelOpen || !this.alive) return false;
    this.sent.push(m.type);
    this.messages.push(m);
    if (m.type === "listen" && this.answersListen) queueMicrotask(() => this.say({ type: "listening", count: 1 }));
    return true;
  }
  /** The generation sends `m` to the supervisor. */
  say(m: Msg): void {
    if (m.type === "given") this.givenReport = m;
    if (m.type === "taking" || m.type === "taken") this.adoptedFrom.set(m.from as number, m.connectionsAdopted as number);
    if (m.type === "taking") return;
    if (m.type === "taken") this.takenFrom.add(m.from as number);
    const i = this.waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    else this.stray(this, m);
  }
  waitFor(type: string, ms: number, what: string): Promise<Msg> {
    return this.waitForAny([type], ms, what);
  }
  waitForAny(types: string[], ms: number, what: string): Promise<Msg> {
    if (this.exit) return Promise.reject(new Error(this.describeExit()));
    return new Promise((resolve, reject) => {
      const w = { types, resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.name} was not ${what} within ${ms} ms`));
      }, ms);
    });
  }
  /** The process exits (SIGKILL unless said otherwise). */
  die(signal = "SIGKILL"): void {
    if (this.exit) return;
    this.exit = { code: null, signal };
    for (const w of this.waiters.splice(0)) w.reject(new Error(this.describeExit()));
    this.resolveExited(this.exit);
  }
  kill(): void {
    this.killed = true;
    this.expectingExit = true;
    this.die();
  }
  describeExit(): string {
    return `${this.name} ${this.exit ? `was killed by ${this.exit.signal}` : "is running"}`;
  }
}

/** A supervisor with no listeners, no control socket and no standby; internals reachable. */
function supervisor(events: { type: string; [k: string]: unknown }[] = []): any {
  const o = offlineOptions({ onEvent: (e: { type: string }) => void events.push(e) });
  const Ctor = SupervisorProcess as unknown as new (o: SupervisorOptions, listeners: unknown[]) => any;
  const s = new Ctor(o, []);
  s.phase.serve(); // as start() leaves it
  return s;
}

test("a take that cannot be sent fails the reload: the old generation stays active and is neither killed nor told to give; the new one is killed", async () => {
  const s = supervisor();
  const old = new FakeGeneration(1);
  const next = new FakeGeneration(2, false); // its channel is gone
  s.active = old;
  s.bootGeneration = async () => next;
  s.listenOn = async () => {};
  const outcome = await s.reload({ timeoutMs: 1_000 });
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toMatch(/before it could take over; generation 1 keeps serving/);
  expect(s.active).toBe(old);
  expect(old.killed).toBe(false);
  expect(old.expectingExit).toBe(false);
  expect(old.sent).not.toContain("give");
  expect(next.killed).toBe(true);
});

test("a stop that begins while a reload boots its generation abandons the reload: that generation is killed and never told to listen or take", async () => {
  const s = supervisor();
  const old = new FakeGeneration(1);
  const next = new FakeGeneration(2);
  s.active = old;
  let listened = false;
  s.bootGeneration = async () => {
    s.phase.stop(Promise.resolve());
    return next;
  };
  s.listenOn = async () => {
    listened = true;
  };
  const outcome = await s.reload({ timeoutMs: 1_000 });
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toMatch(/the server is stopping: reload abandoned/);
  expect(listened).toBe(false);
  expect(next.killed).toBe(true);
  expect(next.sent).toEqual([]);
  expect(s.active).toBe(old);
});

test("a stop that begins while a reload's generation starts listening abandons the reload before any take", async () => {
  const s = supervisor();
  const old = new FakeGeneration(1);
  const next = new FakeGeneration(2);
  s.active = old;
  s.bootGeneration = async () => next;
  s.listenOn = async () => {
    s.phase.stop(Promise.resolve());
  };
  const outcome = await s.reload({ timeoutMs: 1_000 });
  expect(outcome.error).toMatch(/the server is stopping: reload abandoned/);
  expect(next.killed).toBe(true);
  expect(next.sent).not.toContain("take");
  expect(old.sent).not.toContain("give");
});

test("a stop that begins while a crash restart boots its generation ends the restart: that generation is killed, never listens, and no retry follows", async () => {
  const s = supervisor();
  const dead = new FakeGeneration(1);
  dead.kill();
  s.active = dead;
  const next = new FakeGeneration(2);
  let boots = 0;
  let listened = false;
  s.bootGeneration = async () => {
    boots++;
    s.phase.stop(Promise.resolve());
    return next;
  };
  s.listenOn = async () => {
    listened = true;
  };
  await s.restartAfterCrash(dead);
  expect(boots).toBe(1);
  expect(listened).toBe(false);
  expect(next.killed).toBe(true);
  expect(s.active).toBe(dead);
});

/** A supervisor whose reloads boot the given fakes in turn; generation 1 serves. */
function rig(...nexts: FakeGeneration[]) {
  const events: { type: string; [k: string]: unknown }[] = [];
  const s = supervisor(events);
  const all = [new FakeGeneration(1), ...nexts];
  for (const g of all) {
    g.stray = (gen, m) => s.onGenerationMessage(gen, m);
    s.generations.add(g);
    void g.exited.then(() => s.onExit(g));
  }
  s.active = all[0];
  const queue = [...nexts];
  const bootTimeouts: number[] = [];
  s.bootGeneration = async (timeoutMs: number) => {
    bootTimeouts.push(timeoutMs);
    return queue.shift()!;
  };
  s.listenOn = async () => {};
  s.restartAfterCrash = async () => {};
  s.prepareStandby = () => {};
  return { s, events, gens: all, bootTimeouts };
}

/** Resolves once `g` was sent a message of `type`. */
async function sentTo(g: FakeGeneration, type: string): Promise<void> {
  for (let i = 0; i < 1000 && !g.sent.includes(type); i++) await Bun.sleep(1);
  if (!g.sent.includes(type)) throw new Error(`${g.name} was never sent ${type}`);
}

test("a reload returns once the old generation's idle connections moved; its busy requests drain in the background, listed in status; its end is logged and recorded", async () => {
  const { s, events, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload({ reason: "test" });
  await sentTo(g1, "give");
  expect(g2.sent).toContain("take");
  g1.counts = { open: 2, idle: 0, busy: 2, released: 5 };
  g1.say({ type: "handed-over", to: 2, connectionsMoved: 5, failed: 0, busy: 2, open: 2 });
  const outcome = await reloading;
  expect(outcome).toMatchObject({ ok: true, from: 1, to: 2, connectionsMoved: 5, busyDraining: 2 });
  expect(outcome.drained).toBeUndefined();
  const status = s.status();
  expect(status.phase).toBe("serving");
  expect(status.draining).toEqual([{ generation: 1, pid: 1001, busy: 2, open: 2, deadline: outcome.drainDeadline, handingTo: 2 }]);
  // Later: both requests completed, and their connections moved late.
  g1.say({ type: "given", connectionsMoved: 7, movedLate: 2, requestsCompleted: 2, requestsCut: 0, failed: 0 });
  g1.die("exit");
  expect(s.status().draining).toEqual([]);
  expect(s.status().reloads[0].drained).toMatchObject({ generation: 1, requestsCompleted: 2, requestsCut: 0, movedLate: 2 });
  expect(s.status().reloads[0].requestsDrained).toBe(2);
  expect(events.find((e) => e.type === "drained")).toMatchObject({ generation: 1, requestsCompleted: 2, requestsCut: 0, movedLate: 2 });
});

test("the next reload starts while a generation drains, and the draining generation's late connections go to the newest generation", async () => {
  const { s, gens } = rig(new FakeGeneration(2), new FakeGeneration(3));
  const [g1, g2, g3] = gens as [FakeGeneration, FakeGeneration, FakeGeneration];
  const first = s.reload();
  await sentTo(g1, "give");
  g1.say({ type: "handed-over", to: 2, connectionsMoved: 0, failed: 0, busy: 1, open: 1 });
  expect((await first).ok).toBe(true);
  const second = s.reload();
  await sentTo(g2, "give");
  g2.say({ type: "handed-over", to: 3, connectionsMoved: 3, failed: 0, busy: 1, open: 1 });
  expect((await second).ok).toBe(true);
  // Generation 1 was pointed at generation 3: a take from 1 to 3, and a second give to 1.
  expect(g3.messages.filter((m) => m.type === "take").map((m) => m.from)).toEqual([2, 1]);
  expect(g1.messages.filter((m) => m.type === "give").map((m) => m.to)).toEqual([2, 3]);
  expect(s.status().draining.map((d: { generation: number; handingTo: number }) => [d.generation, d.handingTo])).toEqual([
    [1, 3],
    [2, 3],
  ]);
});

test("the new generation dies mid-takeover: the reload fails with its exit, and the old one serves again (told to listen), neither killed nor draining", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload();
  await sentTo(g1, "give");
  g2.adoptedFrom.set(1, 40);
  g2.die();
  const outcome = await reloading;
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toContain("generation 2 (pid 1002) was killed by SIGKILL while taking over (the 40 connections it had taken died with it)");
  expect(outcome.error).toContain("generation 1 serves again with every connection it still holds");
  expect(g1.sent).toEqual(["give", "listen"]);
  expect(g1.killed).toBe(false);
  expect(g1.expectingExit).toBe(false);
  expect(s.active).toBe(g1);
  expect(s.status().draining).toEqual([]);
  // Its give-aborted (the peer's channel closed) arrives afterwards: not a stray, not a crash.
  g1.say({ type: "give-aborted", to: 2, reason: "generation 2 closed the channel", open: 60, busy: 7 });
  expect(s.active).toBe(g1);
});

test("the old generation sees the new one go (give-aborted, peer-gone) before its death is seen, and before it said what it took: the outcome counts what the old one saw it confirm, and says it was killed", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload();
  await sentTo(g1, "give");
  // Generation 2 confirmed 300 connections to generation 1, then was killed before its own
  // report reached the supervisor: only generation 1's count says what died.
  g1.say({ type: "give-aborted", to: 2, reason: "generation 2 closed the channel (it exited or was killed)", open: 7, busy: 7, cause: "peer-gone", connectionsMoved: 300 });
  await Bun.sleep(20);
  g2.die();
  const outcome = await reloading;
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toContain("generation 2 (pid 1002) was killed by SIGKILL while taking over (the 300 connections it had taken died with it)");
  expect(outcome.error).toContain("generation 1 serves again with every connection it still holds");
  expect(s.active).toBe(g1);
});

test("the old generation cannot receive the give (give-aborted while the new one lives): the reload fails with that cause; the old one serves again and the new one hands back what it accepted", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload();
  await sentTo(g1, "give");
  g1.say({ type: "give-aborted", to: 2, reason: "give failed: recvmsg: EMFILE", open: 119, busy: 3 });
  await sentTo(g2, "give");
  g2.say({ type: "handed-over", to: 1, connectionsMoved: 4, failed: 0, busy: 0, open: 0 });
  const outcome = await reloading;
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toContain("generation 1 could not hand over: give failed: recvmsg: EMFILE");
  expect(s.active).toBe(g1);
  expect(g1.sent).toEqual(["give", "listen", "take"]);
  expect(g2.messages.filter((m) => m.type === "give").map((m) => m.to)).toEqual([1]);
  expect(g2.killed).toBe(false);
});

test("a give the old generation could not even open (it still accepts): the reload fails; it is not told to listen again", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload();
  await sentTo(g1, "give");
  g1.say({ type: "give-aborted", to: 2, reason: "give failed: opening the channel to generation 2 failed", open: 3, busy: 0, accepting: true });
  await sentTo(g2, "give");
  g2.say({ type: "handed-over", to: 1, connectionsMoved: 1, failed: 0, busy: 0, open: 0 });
  const outcome = await reloading;
  expect(outcome.ok).toBe(false);
  expect(s.active).toBe(g1);
  expect(g1.sent).toEqual(["give", "take"]);
});

test("a new generation without room for every connection (give-aborted, capacity): the reload fails with that reason as is; the old one still accepts (no listen); the new one hands back, and stops gracefully when that is refused too", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  g1.counts = { open: 93, idle: 90, busy: 3, released: 0 };
  const reserves: number[] = [];
  s.listenOn = async (_g: FakeGeneration, _timeoutMs: number, reserve: number) => void reserves.push(reserve);
  const reloading = s.reload();
  await sentTo(g1, "give");
  // The new generation was told to keep room for the old one's connections from listen on.
  expect(reserves).toEqual([93]);
  const reason =
    "generation 2 can take 40 more connections before it nears its file descriptor limit (128), and generation 1 holds 93: nothing was handed over, and generation 1 keeps serving all 93 connections. Raise the fd limit";
  g1.say({ type: "give-aborted", to: 2, reason, open: 93, busy: 3, accepting: true, cause: "capacity" });
  await sentTo(g2, "give");
  g2.say({ type: "give-aborted", to: 1, reason: "generation 1 can take 0 more connections", open: 2, busy: 0, accepting: true, cause: "capacity" });
  const outcome = await reloading;
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toBe(reason);
  expect(s.active).toBe(g1);
  expect(g1.sent).toEqual(["give", "take"]);
  expect(g2.sent.at(-1)).toBe("stop");
  expect(g2.killed).toBe(false);
});

test("the old generation dies mid-handover: the outcome says so with what the new one adopted and what the old one held", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  g1.counts = { open: 300, idle: 284, busy: 16, released: 0 };
  const reloading = s.reload();
  await sentTo(g1, "give");
  g2.say({ type: "taking", from: 1, connectionsAdopted: 216 });
  g1.die();
  g2.say({ type: "taken", from: 1, connectionsAdopted: 216 });
  const outcome = await reloading;
  expect(outcome).toMatchObject({ ok: true, to: 2, connectionsMoved: 216, connectionsLost: 84 });
  expect(outcome.oldGenerationDied).toBe("generation 1 (pid 1001) was killed by SIGKILL while handing over");
  expect(s.status().reloads[0]).toMatchObject({ connectionsMoved: 216, connectionsLost: 84 });
});

test("a draining generation whose target dies keeps its connections and is pointed at the replacement once one serves", async () => {
  const { s, gens } = rig(new FakeGeneration(2));
  const [g1, g2] = gens as [FakeGeneration, FakeGeneration];
  const reloading = s.reload();
  await sentTo(g1, "give");
  g1.say({ type: "handed-over", to: 2, connectionsMoved: 100, failed: 0, busy: 7, open: 7 });
  await reloading;
  g2.die();
  g1.say({ type: "give-aborted", to: 2, reason: "generation 2 closed the channel", open: 7, busy: 7 });
  expect(g1.killed).toBe(false);
  expect(s.status().draining[0]).toMatchObject({ generation: 1, handingTo: 0 });
  // The replacement serves: generation 1 hands its late connections there.
  const g3 = new FakeGeneration(3);
  s.active = g3;
  s.repointDraining();
  expect(g3.messages.filter((m) => m.type === "take").map((m) => m.from)).toEqual([1]);
  expect(g1.messages.filter((m) => m.type === "give").map((m) => m.to)).toEqual([2, 3]);
});

test(`beyond ${MAX_DRAINING_GENERATIONS} draining generations the oldest is cut, and the log says so`, async () => {
  const nexts = Array.from({ length: MAX_DRAINING_GENERATIONS + 1 }, (_, i) => new FakeGeneration(i + 2));
  const { s, events, gens } = rig(...nexts);
  for (let i = 0; i <= MAX_DRAINING_GENERATIONS; i++) {
    const reloading = s.reload();
    await sentTo(gens[i]!, "give");
    gens[i]!.say({ type: "handed-over", to: i + 2, connectionsMoved: 0, failed: 0, busy: 1, open: 1 });
    expect((await reloading).ok).toBe(true);
  }
  expect(gens[0]!.messages.find((m) => m.type === "cut")?.reason).toBe(`${MAX_DRAINING_GENERATIONS} generations are draining already (the most at once)`);
  expect(gens.slice(1).some((g) => g.sent.includes("cut"))).toBe(false);
  expect(events.find((e) => e.type === "drain-cut")).toMatchObject({ generation: 1 });
  gens[0]!.say({ type: "given", connectionsMoved: 1, movedLate: 0, requestsCompleted: 0, requestsCut: 1, failed: 0 });
  expect(events.find((e) => e.type === "drained")).toMatchObject({ generation: 1, requestsCut: 1, note: expect.stringContaining("cut early") });
});

test("a reload without a timeout uses the server's ready timeout (start --timeout)", async () => {
  const { s, gens, bootTimeouts } = rig(new FakeGeneration(2), new FakeGeneration(3));
  s.o.readyTimeoutMs = 7_000;
  const r = s.reload();
  await sentTo(gens[0]!, "give");
  gens[0]!.say({ type: "handed-over", to: 2, connectionsMoved: 0, failed: 0, busy: 0, open: 0 });
  await r;
  const r2 = s.reload({ timeoutMs: 2_000 });
  await sentTo(gens[1]!, "give");
  gens[1]!.say({ type: "handed-over", to: 3, connectionsMoved: 0, failed: 0, busy: 0, open: 0 });
  await r2;
  expect(bootTimeouts).toEqual([7_000, 2_000]);
});
