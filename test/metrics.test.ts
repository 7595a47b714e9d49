// `liveframe start --metrics 127.0.0.1:0` end to end: requests counted exactly by status class
// across 5 reloads and a generation killed with SIGKILL, every counter monotonic between
// scrapes, reloads and restarts counted, and the endpoint answering while no generation serves.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { expectMonotonic, scrape, type Scrape } from "./support/metrics-scrape.ts";

const cleanups = cleanupAfterEach();
const METRICS = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/;
const RELOADS = 5;

async function liveframe(args: string[], cwd: string) {
  const proc = Bun.spawn([process.execPath, BIN, ...args], { cwd, env: { ...(process.env as Record<string, string>), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** Gauges: the series that may go down between two reads. */
const GAUGES = ["liveframe_open_connections", "liveframe_generation"];

test("metrics: exact request counts by class, monotonic counters across 5 reloads and a kill -9 of the generation, reloads_total ok 5, restarts_total 1", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-metrics-e2e-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(
    join(cwd, "app.ts"),
    `export default {
      async fetch(req: Request) {
        const path = new URL(req.url).pathname;
        if (path === "/missing") return new Response("no", { status: 404 });
        if (path === "/boom") throw new Error("boom (expected by the metrics test)");
        if (path === "/later") return new Response("later", { status: 202 });
        return new Response("ok");
      },
    };\n`,
  );
  const server = spawnCli(["start", "app.ts", "--port", "0", "--host", "127.0.0.1", "--metrics", "127.0.0.1:0", "--runtime-dir", "run"], { cwd });
  cleanups.push(() => server.killAndWait());
  const port = Number((await server.waitFor(LISTENING))[1]);
  const url = (await server.waitFor(METRICS))[1]!;

  const expected = { "2xx": 0, "4xx": 0, "5xx": 0 };
  /** One new connection: 3 × 200, 1 × 202, 2 × 404, 1 × 500 (thrown), then closed. */
  const batch = async () => {
    const c = await KeepAliveClient.connect(port);
    try {
      for (const [path, status, cls] of [["/", 200, "2xx"], ["/", 200, "2xx"], ["/later", 202, "2xx"], ["/", 200, "2xx"], ["/missing", 404, "4xx"], ["/missing", 404, "4xx"], ["/boom", 500, "5xx"]] as const) {
        expect((await c.get(path)).status).toBe(status);
        expected[cls]++;
      }
    } finally {
      c.close();
    }
  };
  const expectCounts = (s: Scrape) => {
    expect(s.get('liveframe_http_requests_total{code="2xx",worker="0"}')).toBe(expected["2xx"]);
    expect(s.get('liveframe_http_requests_total{code="4xx",worker="0"}')).toBe(expected["4xx"]);
    expect(s.get('liveframe_http_requests_total{code="5xx",worker="0"}')).toBe(expected["5xx"]);
    const total = expected["2xx"] + expected["4xx"] + expected["5xx"];
    expect(s.get('liveframe_http_request_duration_seconds_count{worker="0"}')).toBe(total);
    expect(s.get('liveframe_http_request_duration_seconds_bucket{worker="0",le="+Inf"}')).toBe(total);
  };

  // A keep-alive connection held through every reload: it is handed over each time.
  const held = await KeepAliveClient.connect(port);
  cleanups.push(() => held.close());
  let last = await scrape(url);
  expectCounts(last);
  for (let i = 1; i <= RELOADS; i++) {
    await batch();
    expect((await held.get("/")).status).toBe(200);
    expected["2xx"]++;
    const before = await scrape(url);
    expectMonotonic(last, before, `before reload ${i}`, GAUGES);
    expectCounts(before);
    const r = await liveframe(["reload", "--runtime-dir", "run"], cwd);
    expect(r.code).toBe(0);
    const after = await scrape(url);
    expectMonotonic(before, after, `across reload ${i}`, GAUGES);
    expectCounts(after);
    expect(after.get('liveframe_reloads_total{result="ok"}')).toBe(i);
    expect(after.get("liveframe_generation")).toBe(i + 1);
    last = after;
  }
  expect(last.get('liveframe_reloads_total{result="failed"}')).toBe(0);
  expect(last.get('liveframe_connections_handed_over_total{worker="0"}')).toBeGreaterThanOrEqual(RELOADS);
  expect(last.get("liveframe_reload_duration_seconds_count")).toBe(RELOADS);
  expect(last.get("liveframe_reload_duration_seconds_sum")).toBeGreaterThan(0);
  held.close();

  // A crash: generation 6 killed outright; its lane's counts stay in the region.
  await batch();
  const beforeCrash = await scrape(url);
  expectMonotonic(last, beforeCrash, "before the crash", GAUGES);
  expectCounts(beforeCrash);
  const status = JSON.parse((await liveframe(["status", "--json", "--runtime-dir", "run"], cwd)).stdout) as { generation: number; generationPid: number; metricsUrl?: string };
  expect(status.generation).toBe(RELOADS + 1);
  expect(status.metricsUrl).toBe(url);
  expect((await liveframe(["status", "--runtime-dir", "run"], cwd)).stdout).toContain(`metrics      ${url}\n`);
  process.kill(status.generationPid, "SIGKILL");
  // The endpoint is the supervisor's: it answers whatever the generations do. Wait (bounded)
  // for the replacement to serve, checking every scrape on the way.
  let prev = beforeCrash;
  let polls = 0;
  for (;;) {
    const s = await scrape(url);
    expectMonotonic(prev, s, "while the crashed generation was replaced", GAUGES);
    expectCounts(s);
    prev = s;
    if (s.get("liveframe_generation") === RELOADS + 2) break;
    if (++polls > 600) throw new Error(`generation ${RELOADS + 2} did not serve after the crash; output:\n${server.output()}`);
    await Bun.sleep(50);
  }
  expect(prev.get('liveframe_restarts_total{worker="0"}')).toBe(1);
  await batch();
  const end = await scrape(url);
  expectMonotonic(prev, end, "after the restart", GAUGES);
  expectCounts(end);
  expect(end.get('liveframe_restarts_total{worker="0"}')).toBe(1);
  expect(end.get('liveframe_reloads_total{result="ok"}')).toBe(RELOADS);
  expect(expected).toEqual({ "2xx": 7 * 4 + RELOADS, "4xx": 7 * 2, "5xx": 7 });

  // Only /metrics is served there.
  expect((await fetch(url.replace("/metrics", "/"), { headers: { connection: "close" } })).status).toBe(404);
  const stop = await liveframe(["stop", "--runtime-dir", "run"], cwd);
  expect(stop.code).toBe(0);
  expect(await server.proc.exited).toBe(0);
}, 180_000);

test("metrics: a --metrics address in use fails the start with the address and what to do, before the app port is served", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-metrics-busy-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("ok") };\n`);
  const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  cleanups.push(() => taken.stop(true));
  const r = await liveframe(["start", "app.ts", "--port", "0", "--host", "127.0.0.1", "--metrics", `127.0.0.1:${taken.port}`, "--runtime-dir", "run"], cwd);
  expect(r.code).not.toBe(0);
  expect(r.stdout).not.toContain("listening on");
  expect(r.stderr).toContain(`cannot serve metrics on 127.0.0.1:${taken.port}: 127.0.0.1:${taken.port} is in use by another process (EADDRINUSE): pick another address with --metrics`);
}, 60_000);
