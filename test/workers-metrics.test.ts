// `liveframe start --workers 2 --metrics 127.0.0.1:0` end to end: one endpoint for the whole
// supervisor; requests counted per worker slot exactly (each answer names the slot that
// served it); open connections per worker; every counter monotonic across 3 reloads and a
// kill -9 of worker 1; a pool reload counted once (not once per slot), ok or failed; the
// restart counted under the slot that crashed.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { expectMonotonic, scrape, type Scrape } from "./support/metrics-scrape.ts";

const cleanups = cleanupAfterEach();
const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const METRICS = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/;
const RELOADS = 3;
/** Connections opened at once per batch: enough that the kernel gives both workers some. */
const BATCH_CONNECTIONS = 16;

async function liveframe(args: string[], cwd: string) {
  const proc = Bun.spawn([process.execPath, BIN, ...args], { cwd, env: { ...(process.env as Record<string, string>), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** Gauges: the series that may go down between two reads. */
const GAUGES = ["liveframe_open_connections"];

interface PoolStatus {
  generation: number;
  workerPids: number[];
  workers: { worker: number; pid: number; generation: number }[];
  restarts: number;
  metricsUrl?: string;
}

test("workers + metrics: one endpoint; per-worker request counts exact over many connections; monotonic across 3 reloads and kill -9 of worker 1; reloads_total ok 3; restarts_total{worker=1} 1", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-workers-metrics-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(
    join(cwd, "app.ts"),
    `import { generation } from ${JSON.stringify(`${REPO}/src/generation/info.ts`)};
    export default {
      fetch(req: Request) {
        const path = new URL(req.url).pathname;
        const body = \`\${generation.worker} \${process.pid}\`;
        if (path === "/missing") return new Response(body, { status: 404 });
        return new Response(body);
      },
    };\n`,
  );
  const server = spawnCli(["start", "app.ts", "--port", "0", "--host", "127.0.0.1", "--workers", "2", "--metrics", "127.0.0.1:0", "--runtime-dir", "run"], { cwd });
  cleanups.push(() => server.killAndWait());
  const port = Number((await server.waitFor(LISTENING))[1]);
  const url = (await server.waitFor(METRICS))[1]!;

  /** What each slot answered, by class, from the answers' own bodies. */
  const expected = [
    { "2xx": 0, "4xx": 0 },
    { "2xx": 0, "4xx": 0 },
  ];
  const count = (r: { status: number; body: string }, status: 200 | 404) => {
    expect(r.status).toBe(status);
    const worker = Number(r.body.split(" ")[0]);
    expect(worker === 0 || worker === 1).toBe(true);
    expected[worker]![status === 200 ? "2xx" : "4xx"]++;
    return worker;
  };
  /** BATCH_CONNECTIONS new connections at once, each 3 × 200 and 1 × 404, then closed. Returns the slots that answered. */
  const batch = async () => {
    const slots = new Set<number>();
    await Promise.all(
      Array.from({ length: BATCH_CONNECTIONS }, async () => {
        const c = await KeepAliveClient.connect(port);
        try {
          for (const [path, status] of [["/", 200], ["/missing", 404], ["/", 200], ["/", 200]] as const) slots.add(count(await c.get(path), status));
        } finally {
          c.close();
        }
      }),
    );
    return slots;
  };
  const expectCounts = (s: Scrape, when: string) => {
    let total = 0;
    for (const worker of [0, 1]) {
      const e = expected[worker]!;
      const got = {
        "2xx": s.get(`liveframe_http_requests_total{code="2xx",worker="${worker}"}`),
        "4xx": s.get(`liveframe_http_requests_total{code="4xx",worker="${worker}"}`),
        "5xx": s.get(`liveframe_http_requests_total{code="5xx",worker="${worker}"}`),
        count: s.get(`liveframe_http_request_duration_seconds_count{worker="${worker}"}`),
      };
      expect({ worker, when, ...got }).toEqual({ worker, when, ...e, "5xx": 0, count: e["2xx"] + e["4xx"] });
      total += e["2xx"] + e["4xx"];
    }
    let scraped = 0;
    for (const [series, value] of s) if (series.startsWith("liveframe_http_requests_total{")) scraped += value;
    expect({ when, total: scraped }).toEqual({ when, total });
  };

  // One endpoint with both slots' series from the start.
  let last = await scrape(url);
  expectCounts(last, "at start");
  expect(last.get('liveframe_restarts_total{worker="1"}')).toBe(0);
  expect(last.get("liveframe_generation")).toBe(1);

  // Many connections until both workers have answered (bounded: 20 batches).
  const answered = new Set<number>();
  for (let i = 0; i < 20 && answered.size < 2; i++) for (const w of await batch()) answered.add(w);
  expect([...answered].sort()).toEqual([0, 1]);
  const afterLoad = await scrape(url);
  expectMonotonic(last, afterLoad, "under load", GAUGES);
  expectCounts(afterLoad, "under load");
  last = afterLoad;

  // Keep-alive connections held by both workers (bounded: 64 tries); they are handed over on each reload.
  const held: KeepAliveClient[] = [];
  const heldOn = [0, 0];
  for (let i = 0; i < 64 && (heldOn[0]! < 2 || heldOn[1]! < 2); i++) {
    const c = await KeepAliveClient.connect(port);
    cleanups.push(() => c.close());
    const w = count(await c.get("/"), 200);
    if (heldOn[w]! < 2) {
      heldOn[w]!++;
      held.push(c);
    } else c.close();
  }
  expect(heldOn).toEqual([2, 2]);
  // Open connections per worker (reported every 500 ms: wait, bounded, until they show).
  for (let i = 0; i < 100; i++) {
    last = await scrape(url);
    if ((last.get('liveframe_open_connections{worker="0"}') ?? 0) >= 2 && (last.get('liveframe_open_connections{worker="1"}') ?? 0) >= 2) break;
    await Bun.sleep(50);
  }
  expect(last.get('liveframe_open_connections{worker="0"}')).toBeGreaterThanOrEqual(2);
  expect(last.get('liveframe_open_connections{worker="1"}')).toBeGreaterThanOrEqual(2);

  for (let i = 1; i <= RELOADS; i++) {
    for (const c of held) count(await c.get("/"), 200);
    await batch();
    const before = await scrape(url);
    expectMonotonic(last, before, `before reload ${i}`, GAUGES);
    expectCounts(before, `before reload ${i}`);
    const r = await liveframe(["reload", "--runtime-dir", "run"], cwd);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining(`generation ${i} → ${i + 1}`) });
    const after = await scrape(url);
    expectMonotonic(before, after, `across reload ${i}`, GAUGES);
    expectCounts(after, `after reload ${i}`);
    // Once per pool reload, not once per slot.
    expect(after.get('liveframe_reloads_total{result="ok"}')).toBe(i);
    expect(after.get("liveframe_reload_duration_seconds_count")).toBe(i);
    expect(after.get("liveframe_generation")).toBe(i + 1);
    last = after;
  }
  expect(last.get('liveframe_reloads_total{result="failed"}')).toBe(0);
  // Each slot's held connections moved on each reload (at once or as their request ended).
  for (const w of [0, 1]) expect(last.get(`liveframe_connections_handed_over_total{worker="${w}"}`)).toBeGreaterThanOrEqual(2 * RELOADS);
  for (const c of held) {
    expect(c.closed).toBe(false);
    count(await c.get("/"), 200);
    c.close();
  }

  // status: the metrics URL, one line per worker.
  const status = JSON.parse((await liveframe(["status", "--json", "--runtime-dir", "run"], cwd)).stdout) as PoolStatus;
  expect(status.metricsUrl).toBe(url);
  expect(status.workers.map((w) => [w.worker, w.generation])).toEqual([[0, RELOADS + 1], [1, RELOADS + 1]]);
  const text = (await liveframe(["status", "--runtime-dir", "run"], cwd)).stdout;
  expect(text).toContain(`metrics      ${url}\n`);
  expect(text).toMatch(new RegExp(`worker 0 +pid ${status.workerPids[0]} \\(generation ${RELOADS + 1}\\)`));
  expect(text).toMatch(new RegExp(`worker 1 +pid ${status.workerPids[1]} \\(generation ${RELOADS + 1}\\)`));

  // kill -9 of worker 1: its slot alone is restarted (and counted); its lane's counts stay.
  await batch();
  const beforeCrash = await scrape(url);
  expectMonotonic(last, beforeCrash, "before the crash", GAUGES);
  expectCounts(beforeCrash, "before the crash");
  process.kill(status.workerPids[1]!, "SIGKILL");
  // The replacement takes the slot's next number (the reload gave both RELOADS + 1).
  let prev = beforeCrash;
  for (let polls = 0; ; polls++) {
    const s = await scrape(url);
    expectMonotonic(prev, s, "while worker 1 was replaced", GAUGES);
    expectCounts(s, "while worker 1 was replaced");
    prev = s;
    if (s.get("liveframe_generation") === RELOADS + 2) break;
    if (polls > 600) throw new Error(`worker 1 was not replaced; output:\n${server.output()}`);
    await Bun.sleep(50);
  }
  expect(prev.get('liveframe_restarts_total{worker="1"}')).toBe(1);
  expect(prev.get('liveframe_restarts_total{worker="0"}')).toBe(0);
  for (let i = 0; i < 20 && !(await batch()).has(1); i++);
  const end = await scrape(url);
  expectMonotonic(prev, end, "after the restart", GAUGES);
  expectCounts(end, "after the restart");
  expect(end.get('liveframe_restarts_total{worker="1"}')).toBe(1);
  expect(end.get('liveframe_reloads_total{result="ok"}')).toBe(RELOADS);
  const after = JSON.parse((await liveframe(["status", "--json", "--runtime-dir", "run"], cwd)).stdout) as PoolStatus;
  expect(after.workerPids[0]).toBe(status.workerPids[0]);
  expect(after.workerPids[1]).not.toBe(status.workerPids[1]);
  expect(after.restarts).toBe(1);

  // A pool reload that fails (worker 1's new process cannot boot) counts once, as failed.
  writeFileSync(join(cwd, "app.ts"), `import { generation } from ${JSON.stringify(`${REPO}/src/generation/info.ts`)};\nif (generation.worker === 1) throw new Error("worker 1 cannot boot (expected by the test)");\nexport default { fetch: () => new Response("never") };\n`);
  const failed = await liveframe(["reload", "--runtime-dir", "run"], cwd);
  expect(failed.code).toBe(1);
  const afterFailed = await scrape(url);
  expectMonotonic(end, afterFailed, "across the failed reload", GAUGES);
  expectCounts(afterFailed, "after the failed reload");
  expect(afterFailed.get('liveframe_reloads_total{result="failed"}')).toBe(1);
  expect(afterFailed.get('liveframe_reloads_total{result="ok"}')).toBe(RELOADS);
  expect(afterFailed.get("liveframe_reload_duration_seconds_count")).toBe(RELOADS + 1);

  const stop = await liveframe(["stop", "--runtime-dir", "run"], cwd);
  expect(stop.code).toBe(0);
  expect(await server.proc.exited).toBe(0);
}, 180_000);

test("workers + metrics: a --metrics address in use fails a --workers 2 start with the address and what to do, before any worker serves", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-workers-metrics-busy-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("ok") };\n`);
  const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  cleanups.push(() => taken.stop(true));
  const r = await liveframe(["start", "app.ts", "--port", "0", "--host", "127.0.0.1", "--workers", "2", "--metrics", `127.0.0.1:${taken.port}`, "--runtime-dir", "run"], cwd);
  expect(r.code).not.toBe(0);
  expect(r.stdout).not.toContain("listening on");
  expect(r.stderr).toContain(`cannot serve metrics on 127.0.0.1:${taken.port}: 127.0.0.1:${taken.port} is in use by another process (EADDRINUSE): pick another address with --metrics`);
}, 60_000);
