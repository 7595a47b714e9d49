// `liveframe start --workers 2` through the real CLI: a generation is two worker processes
// sharing the supervisor's listener and the state region. Both answer; a reload under load
// moves every keep-alive connection to the new worker of its slot and loses nothing; a worker
// killed with -9 is replaced on its own while the other serves; one new worker that cannot
// boot fails the reload and both old workers go on serving; a shared counter stays exact.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, oneShot, RawClient, REPO, run, startServer, type Server, cleanUpAfterEachTest, waitGone } from "./fixtures/harness.ts";

cleanUpAfterEachTest();

const ZOD = Bun.resolveSync("zod", REPO);
/** Answers "<generation> <pid> <worker> <workers> <path>"; /count adds 1 to a shared counter and answers its new value. */
const WORKERS_APP = (prelude = "") =>
  `import { z } from ${JSON.stringify(ZOD)};\n` +
  `import { defineState } from ${JSON.stringify(`${REPO}/src/index.ts`)};\n` +
  `import { generation } from ${JSON.stringify(`${REPO}/src/generation/info.ts`)};\n` +
  `${prelude}\n` +
  `const s = defineState(z.object({ hits: z.int32() }), { name: "counter" });\n` +
  `export default { fetch(req: Request) {\n` +
  `  const path = new URL(req.url).pathname;\n` +
  `  if (path === "/count") return new Response(\`\${s.hits.add(1)} \${process.pid}\`);\n` +
  `  if (path === "/hits") return new Response(String(s.hits.get()));\n` +
  `  return new Response(\`\${generation.number} \${process.pid} \${generation.worker} \${generation.workers} \${path}\`);\n` +
  `} };\n`;

/**
 * `perWorker` keep-alive connections held by each of the two workers: new connections, in
 * batches, until each worker holds that many (bounded: 400 connections); the rest are closed.
 */
async function connectionsOnEachWorker(port: number, perWorker: number): Promise<RawClient[]> {
  const held = new Map<number, RawClient[]>();
  for (let opened = 0; opened < 400 && !(held.size === 2 && [...held.values()].every((l) => l.length >= perWorker)); opened += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(port)));
    for (const c of batch) {
      const pid = who((await c.get("/whose")).body).pid;
      const list = held.get(pid) ?? [];
      if (list.length < perWorker) {
        list.push(c);
        held.set(pid, list);
      } else c.close();
    }
  }
  expect([...held.values()].map((l) => l.length)).toEqual([perWorker, perWorker]);
  return [...held.values()].flat();
}

interface Who {
  generation: number;
  pid: number;
  worker: number;
  workers: number;
}
function who(body: string): Who {
  const [g, p, w, n] = body.split(" ").map(Number);
  return { generation: g!, pid: p!, worker: w!, workers: n! };
}

interface WorkersStatus {
  generation: number;
  workerPids: number[];
  workers: { worker: number; pid: number; generation: number; connections: number; requests: number }[];
  reloads: { ok: boolean; workers?: { worker: number; connectionsMoved: number }[] }[];
  restarts: number;
}
/** TCP sockets in LISTEN state on 127.0.0.1:`port` (/proc/net/tcp; one line per socket). */
function listeningSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === local && f[3] === "0A";
    }).length;
}
const workersStatus = (s: Server) => s.status() as unknown as Promise<WorkersStatus>;

/** New connections, `n` at a time, until both workers have answered (bounded: 20 rounds); returns who answered. */
async function reachBothWorkers(port: number, n = 64): Promise<Map<number, Who>> {
  const seen = new Map<number, Who>();
  for (let round = 0; round < 20 && seen.size < 2; round++) {
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => oneShot(port, `/conn-${round}-${i}`)));
    for (const r of replies) {
      expect("body" in r ? r.status : r.error).toBe(200);
      if ("body" in r) seen.set(who(r.body).pid, who(r.body));
    }
  }
  return seen;
}

test("--workers 2: new connections are answered by both worker pids, each knowing its slot; status lists both; a counter hit 2,000 times across both workers ends exact", async () => {
  const server = await startServer({ source: WORKERS_APP(), flags: ["--workers", "2"] });
  const status = await workersStatus(server);
  expect(status.workerPids.length).toBe(2);
  expect(status.workers.map((w) => w.worker)).toEqual([0, 1]);
  const seen = await reachBothWorkers(server.port);
  expect([...seen.keys()].sort()).toEqual([...status.workerPids].sort());
  for (const [i, pid] of status.workerPids.entries()) expect(seen.get(pid)).toEqual({ generation: 1, pid, worker: i, workers: 2 });
  // 2,000 increments over 40 keep-alive connections, 20 held by each worker (both write at
  // once): every value from 1 to 2,000 is answered exactly once.
  const conns = await connectionsOnEachWorker(server.port, 20);
  const values: number[] = [];
  const writers = new Set<number>();
  await Promise.all(
    conns.map(async (c) => {
      for (let i = 0; i < 50; i++) {
        const r = await c.get("/count");
        expect(r.status).toBe(200);
        const [value, pid] = r.body.split(" ").map(Number);
        values.push(value!);
        writers.add(pid!);
      }
    }),
  );
  expect([...writers].sort()).toEqual([...status.workerPids].sort());
  values.sort((a, b) => a - b);
  expect(values.length).toBe(2000);
  expect(values.every((v, i) => v === i + 1)).toBe(true);
  // Each worker reports the requests it served (counts arrive every 500 ms).
  let after = await workersStatus(server);
  for (let i = 0; i < 40 && after.workers.some((w) => w.requests < 1000); i++) {
    await Bun.sleep(100);
    after = await workersStatus(server);
  }
  expect(after.workers.every((w) => w.requests >= 1000)).toBe(true);
  const text = await server.statusText();
  expect(text).toMatch(/worker 0 +pid \d+ \(generation 1\): \d+ open connections, \d+ requests served/);
  expect(text).toMatch(/worker 1 +pid \d+ \(generation 1\)/);
}, 120_000);

for (const spread of ["shared", "reuseport"] as const) {
test(`--workers 2 --spread ${spread}: 3 reloads under load (24 keep-alive clients in a loop) lose nothing; every connection moves to a new worker; the reload line shows per-worker handover counts`, async () => {
  const server = await startServer({ source: WORKERS_APP(), flags: ["--workers", "2", "--spread", spread] });
  // Listening sockets on the port (/proc/net/tcp, state 0A): one shared, or one per worker slot.
  expect(listeningSockets(server.port)).toBe(spread === "reuseport" ? 2 : 1);
  const conns = await Promise.all(Array.from({ length: 24 }, () => RawClient.open(server.port)));
  let running = true;
  let answered = 0;
  const failures: string[] = [];
  const servedBy = new Set<number>();
  const loops = conns.map(async (c, i) => {
    for (let n = 0; running; n++) {
      try {
        const r = await c.get(`/c${i}-${n}`);
        if (r.status !== 200 || !r.body.endsWith(`/c${i}-${n}`)) failures.push(`conn ${i}: ${r.status} ${r.body}`);
        answered++;
        servedBy.add(who(r.body).pid);
      } catch (e) {
        failures.push(`conn ${i}: ${(e as Error).message}`);
        return;
      }
    }
  });
  for (let round = 1; round <= 3; round++) {
    const before = answered;
    for (let i = 0; i < 200 && answered < before + 100; i++) await Bun.sleep(10);
    const r = await server.reload();
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringMatching(new RegExp(`generation ${round} → ${round + 1}[\\s\\S]*worker 0: \\d+ handed over[^,]*, worker 1: \\d+ handed over`)) });
  }
  const before = answered;
  for (let i = 0; i < 300 && answered < before + 200; i++) await Bun.sleep(10);
  running = false;
  await Promise.all(loops);
  expect(failures).toEqual([]);
  for (const [i, c] of conns.entries()) expect({ conn: i, closed: c.closed, error: c.error }).toEqual({ conn: i, closed: false, error: null });
  const status = await workersStatus(server);
  expect(status.generation).toBe(4);
  expect(status.reloads.length).toBe(3);
  for (const r of status.reloads) {
    expect(r.ok).toBe(true);
    expect(r.workers?.map((w) => w.worker)).toEqual([0, 1]);
    // Every held connection moved, at once or as its request finished.
    expect(r.workers!.reduce((n, w) => n + w.connectionsMoved, 0)).toBeLessThanOrEqual(24);
  }
  // The last requests were answered by the last generation's two workers, and only them.
  const last = await Promise.all(conns.map((c) => c.get("/last")));
  const lastPids = new Set(last.map((r) => who(r.body).pid));
  for (const r of last) expect(who(r.body).generation).toBe(4);
  for (const pid of lastPids) expect(status.workerPids).toContain(pid);
  expect(servedBy.size).toBeGreaterThanOrEqual(4);
}, 120_000);

test(`--workers 2 --spread ${spread}: kill -9 of worker 1 under a stream of new connections refuses none; only slot 1 is replaced, worker 0 serves throughout`, async () => {
  const server = await startServer({ source: WORKERS_APP(), flags: ["--workers", "2", "--spread", spread] });
  if (spread === "reuseport") expect((await reachBothWorkers(server.port)).size).toBe(2);
  const before = await workersStatus(server);
  const [pid0, pid1] = before.workerPids as [number, number];
  let running = true;
  const results: string[] = [];
  const byPid = new Map<number, number>();
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      const r = await oneShot(server.port, "/new");
      if ("body" in r && r.status === 200) byPid.set(who(r.body).pid, (byPid.get(who(r.body).pid) ?? 0) + 1);
      results.push("body" in r ? `status ${r.status}` : r.error);
    }
  });
  await Bun.sleep(200);
  process.kill(pid1, "SIGKILL");
  expect(await waitGone(pid1)).toBe(true);
  const servedByZeroAtKill = byPid.get(pid0) ?? 0;
  let after = await workersStatus(server);
  for (let i = 0; i < 200 && (after.workerPids[1] === pid1 || after.workers[1]!.generation === 1); i++) {
    await Bun.sleep(50);
    after = await workersStatus(server);
  }
  // The replacement answers too (new connections land on both).
  for (let i = 0; i < 200 && !byPid.has(after.workerPids[1]!); i++) await Bun.sleep(20);
  running = false;
  await Promise.all(loops);
  expect(after.workerPids[0]).toBe(pid0);
  expect(after.workerPids[1]).not.toBe(pid1);
  expect(alive(after.workerPids[1]!)).toBe(true);
  expect(after.restarts).toBe(1);
  expect(byPid.get(pid0)! > servedByZeroAtKill).toBe(true);
  expect(byPid.has(after.workerPids[1]!)).toBe(true);
  expect(results.filter((r) => r === "ECONNREFUSED")).toEqual([]);
  // Only requests the dead worker had already accepted can fail (reset): bounded by the 4 loops.
  expect(results.filter((r) => r !== "status 200").length).toBeLessThanOrEqual(4);
  expect(server.log()).toMatch(/worker 1: restarting the app/);
}, 120_000);
}

test("--workers 2: a reload whose worker 1 cannot boot fails naming it; no worker takes over and both old workers keep serving their connections", async () => {
  const server = await startServer({ source: WORKERS_APP(), flags: ["--workers", "2"] });
  const before = await workersStatus(server);
  const conns = await Promise.all(Array.from({ length: 16 }, () => RawClient.open(server.port)));
  const first = await Promise.all(conns.map((c) => c.get("/before")));
  server.writeApp(WORKERS_APP(`if (generation.worker === 1) throw new Error("worker 1 cannot reach its database");`));
  const r = await server.reload();
  expect(r.code).toBe(1);
  expect(r.stdout + r.stderr).toMatch(/worker 1: [\s\S]*worker 1 cannot reach its database[\s\S]*every old worker keeps serving/);
  const again = await Promise.all(conns.map((c) => c.get("/after")));
  for (const [i, reply] of again.entries()) expect(who(reply.body)).toEqual(who(first[i]!.body));
  for (const c of conns) expect({ closed: c.closed, error: c.error }).toEqual({ closed: false, error: null });
  const seen = await reachBothWorkers(server.port, 32);
  expect([...seen.keys()].sort()).toEqual([...before.workerPids].sort());
  const after = await workersStatus(server);
  expect(after.workerPids).toEqual(before.workerPids);
  expect(after.generation).toBe(1);
  expect(after.reloads.at(-1)?.ok).toBe(false);
}, 120_000);

test("--workers 2: a start whose worker 1 cannot boot exits 1 naming that worker and never says it listens", async () => {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-workers-"));
  try {
    writeFileSync(join(dir, "app.ts"), WORKERS_APP(`if (generation.worker === 1) throw new Error("no database for worker 1");`));
    const r = await run(["start", "app.ts", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(dir, "rt"), "--workers", "2"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not start .*app\.ts: worker 1 of 2: [\s\S]*no database for worker 1/);
    expect(r.stdout).not.toContain("listening on");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("--workers 2 --spread reuseport: while worker 1 crash-loops, worker 0 accepts on its socket too, so every new connection is answered (none waits in the dead slot's queue)", async () => {
  const server = await startServer({ source: WORKERS_APP(), flags: ["--workers", "2", "--spread", "reuseport"] });
  const [pid0, pid1] = (await workersStatus(server)).workerPids as [number, number];
  expect((await reachBothWorkers(server.port)).size).toBe(2);
  // From now on the app cannot start: slot 1's restarts all fail.
  server.writeApp(WORKERS_APP(`throw new Error("broken deploy");`));
  process.kill(pid1, "SIGKILL");
  for (let i = 0; i < 250 && !/worker 1 is restarting: worker 0 also accepts on its socket/.test(server.log()); i++) await Bun.sleep(20);
  expect(server.log()).toMatch(/worker 1 is restarting: worker 0 also accepts on its socket meanwhile/);
  // Slot 1 has failed to restart at least once: nobody but worker 0 can answer now.
  for (let i = 0; i < 250 && !/restart failed: [\s\S]*broken deploy/.test(server.log()); i++) await Bun.sleep(20);
  expect(server.log()).toMatch(/restart failed: [\s\S]*broken deploy/);
  // 64 new connections: the kernel hashes about half of them to slot 1's socket.
  const timedOut = { error: "no answer within 5 s" };
  const replies = await Promise.all(
    Array.from({ length: 64 }, (_, i) => Promise.race([oneShot(server.port, `/during-${i}`), Bun.sleep(5000).then(() => timedOut)])),
  );
  for (const r of replies) expect("body" in r ? who(r.body).pid : r.error).toBe(pid0);
}, 120_000);
