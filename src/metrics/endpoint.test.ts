import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { MetricsEndpoint } from "./endpoint.ts";
import { MetricsRegion } from "./region.ts";
import { recordRequest } from "./recorder.ts";

const cleanups = cleanupAfterEach();

function start(gauges = { openConnections: [3], generation: 2 }) {
  const dir = mkdtempSync(join(tmpdir(), "lf-metrics-endpoint-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const endpoint = MetricsEndpoint.start({ runtimeDir: dir, address: { host: "127.0.0.1", port: 0 }, gauges: () => gauges });
  cleanups.push(() => endpoint.close());
  return { endpoint, dir };
}

const get = async (url: string, init?: RequestInit) => {
  const r = await fetch(url, { ...init, headers: { connection: "close" } });
  return { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
};

test("reloads by result from the supervisor's events (a refused one is not counted), restarts per worker, gauges from the supervisor", async () => {
  const { endpoint, dir } = start();
  expect(readdirSync(dir)).toEqual([]); // the region has no name in the runtime dir
  expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  endpoint.observe({ type: "reloaded", outcome: { ok: true, totalMs: 150 } });
  endpoint.observe({ type: "reload-failed", outcome: { ok: false, totalMs: 3000 } });
  endpoint.observe({ type: "reload-failed", outcome: { ok: false, totalMs: 0 }, refused: true });
  endpoint.observe({ type: "restarting", generation: 3, delayMs: 0, attempt: 1 });
  endpoint.observe({ type: "ready", generation: 3 });
  const r = await get(endpoint.url);
  expect(r.status).toBe(200);
  expect(r.type).toBe("text/plain; version=0.0.4; charset=utf-8");
  for (const line of [
    'liveframe_reloads_total{result="ok"} 1',
    'liveframe_reloads_total{result="failed"} 1',
    'liveframe_reload_duration_seconds_bucket{le="0.1"} 0',
    'liveframe_reload_duration_seconds_bucket{le="0.25"} 1',
    'liveframe_reload_duration_seconds_bucket{le="5"} 2',
    "liveframe_reload_duration_seconds_sum 3.15",
    "liveframe_reload_duration_seconds_count 2",
    'liveframe_restarts_total{worker="0"} 1',
    'liveframe_open_connections{worker="0"} 3',
    "liveframe_generation 2",
  ]) {
    expect(r.body.split("\n")).toContain(line);
  }
});

test("a process's lane is counted while it lives and kept when it exits (folded into the retired totals)", async () => {
  const { endpoint } = start();
  const child = MetricsRegion.open(endpoint.file);
  cleanups.push(() => child.close());
  const proc = Bun.spawn([process.execPath, "-e", "await Bun.sleep(60_000)"], { stdout: "ignore" });
  cleanups.push(() => proc.kill(9));
  const lane = child.claimLane(proc.pid, 0)!; // stands in for a generation's lane
  recordRequest(lane, 200, 0.2);
  recordRequest(lane, 500, 0.2);
  const counted = (body: string) => body.split("\n").filter((l) => /^liveframe_http_requests_total\{code="(2|5)xx"/.test(l));
  expect(counted((await get(endpoint.url)).body)).toEqual(['liveframe_http_requests_total{code="2xx",worker="0"} 1', 'liveframe_http_requests_total{code="5xx",worker="0"} 1']);
  proc.kill(9);
  await proc.exited;
  endpoint.observe({ type: "generation-exited", generation: 1, pid: proc.pid, signal: "SIGKILL" });
  // The lane is free again (a new process claims the same one) and the totals did not move.
  expect(child.claimLane(proc.pid + 1_000_000, 0)?.base).toBe(lane.base);
  expect(counted((await get(endpoint.url)).body)).toEqual(['liveframe_http_requests_total{code="2xx",worker="0"} 1', 'liveframe_http_requests_total{code="5xx",worker="0"} 1']);
});

test("only GET and HEAD of /metrics: other paths are 404, other methods 405", async () => {
  const { endpoint } = start();
  expect((await get(endpoint.url.replace("/metrics", "/"))).status).toBe(404);
  const post = await get(endpoint.url, { method: "POST" });
  expect(post.status).toBe(405);
  expect((await get(endpoint.url, { method: "HEAD" })).status).toBe(200);
});

test("an address in use: the error names it and says what to do", () => {
  const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  cleanups.push(() => taken.stop(true));
  const dir = mkdtempSync(join(tmpdir(), "lf-metrics-endpoint-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  expect(() => MetricsEndpoint.start({ runtimeDir: dir, address: { host: "127.0.0.1", port: taken.port! }, gauges: () => ({ openConnections: [], generation: 0 }) })).toThrow(
    `cannot serve metrics on 127.0.0.1:${taken.port}: 127.0.0.1:${taken.port} is in use by another process (EADDRINUSE): pick another address with --metrics`,
  );
  expect(readdirSync(dir)).toEqual([]);
});
