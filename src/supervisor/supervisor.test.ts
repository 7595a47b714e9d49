// Reload and restart orchestration against stand-in generations (no processes): what the
// supervisor does when a step fails or a stop begins while it awaits a new generation.
import { expect, test } from "bun:test";
import { SupervisorProcess } from "./supervisor.ts";
import type { SupervisorOptions } from "./types.ts";

/** Stands in for a GenerationProcess: records what it was sent and whether it was killed. */
class FakeGeneration {
  alive = true;
  exit: { code: number | null; signal: string | null } | null = null;
  expectingExit = false;
  killed = false;
  prestarted = false;
  startedAt = performance.now();
  counts = { open: 0, idle: 0, busy: 0, released: 0 };
  readonly sent: string[] = [];
  constructor(
    readonly number: number,
    private readonly channelOpen = true,
  ) {}
  get name() {
    return `generation ${this.number} (pid 1)`;
  }
  get pid() {
    return 1000 + this.number;
  }
  send(m: { type: string }): boolean {
    if (!this.channelOpen) return false;
    this.sent.push(m.type);
    return true;
  }
  waitFor(): Promise<never> {
    return Promise.reject(new Error("a stand-in generation answers nothing"));
  }
  kill(): void {
    this.killed = true;
    this.alive = false;
  }
  describeExit(): string {
    return `${this.name} is running`;
  }
}

/** A supervisor with no listeners, no control socket and no standby; internals reachable. */
function supervisor(): any {
  const o = {
    entry: "/nonexistent/app.ts",
    port: 0,
    hostname: "127.0.0.1",
    backlog: 16,
    runtimeDir: "/nonexistent",
    drainTimeoutMs: 1_000,
    readyTimeoutMs: 1_000,
    server: {},
    standby: false,
    handleSignals: false,
  } as SupervisorOptions;
  const Ctor = SupervisorProcess as unknown as new (o: SupervisorOptions, listeners: unknown[]) => unknown;
  return new Ctor(o, []);
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
    s.stopping = Promise.resolve();
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
    s.stopping = Promise.resolve();
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
    s.stopping = Promise.resolve();
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
