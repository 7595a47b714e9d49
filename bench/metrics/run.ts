// The request metrics hook alone: ns per call of an app's fetch, bare and wrapped by
// src/metrics instrument() (clock reads, status class, bucket search, three additions to the
// lane), for a synchronous Response and a Promise. Rounds alternate bare/wrapped; medians shown.
// End to end with sockets: `bun bench/run.ts http --metrics on` (liveframe vs liveframe+metrics).
//
//   bun bench/metrics/run.ts [--calls 2000000] [--rounds 7]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { instrument } from "../../src/metrics/recorder.ts";
import { MetricsRegion } from "../../src/metrics/region.ts";
import { parseBenchFlags } from "../support.ts";
import { createServer } from "../../src/http/index.ts";
import { benchApp } from "../http/app.mjs";

const opts = parseBenchFlags(
  "bench/metrics",
  process.argv.slice(2),
  z.object({ calls: z.coerce.number().int().min(10_000).max(100_000_000).default(2_000_000), rounds: z.coerce.number().int().min(1).max(50).default(7) }),
);

const dir = mkdtempSync(join(tmpdir(), "lf-bench-metrics-"));
const region = MetricsRegion.create(join(dir, "metrics.bin"));
const lane = region.claimLane(process.pid, 0)!;
const request = new Request("http://127.0.0.1/");
const response = new Response("ok");
// The engine calls fetch(request, env), as Bun.serve does.
const env = { requestIP: () => null };
type App = { fetch(r: Request, env?: unknown): Response | Promise<Response> };
const syncApp: App = { fetch: (_r: Request) => response };
const asyncApp: App = { fetch: async (_r: Request) => response };

function timeSync(app: App): number {
  const t = Bun.nanoseconds();
  for (let i = 0; i < opts.calls; i++) app.fetch(request, env);
  return (Bun.nanoseconds() - t) / opts.calls;
}

async function timeAsync(app: App): Promise<number> {
  const n = Math.floor(opts.calls / 4);
  const t = Bun.nanoseconds();
  for (let i = 0; i < n; i++) await app.fetch(request, env);
  return (Bun.nanoseconds() - t) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: [string, number, number][] = [];
// As in a generation: the engine's Response installed (createServer does it), the bench's Hono app.
createServer(benchApp(), {});
const hono: App = benchApp();
const cases: [string, App, (a: App) => Promise<number>][] = [
  ["sync Response", syncApp, async (a) => timeSync(a)],
  ["Promise<Response>", asyncApp, timeAsync],
  ["Hono GET / (engine's Response)", hono, async (a) => timeSync(a)],
];
for (const [name, app, timer] of cases) {
  const bare: number[] = [];
  const wrapped: number[] = [];
  const counted = instrument(app, lane);
  await timer(app); // warm-up
  await timer(counted);
  for (let r = 0; r < opts.rounds; r++) {
    bare.push(await timer(app));
    wrapped.push(await timer(counted));
  }
  rows.push([name, median(bare), median(wrapped)]);
}
console.log(`${opts.calls} calls × ${opts.rounds} rounds, medians (bun ${Bun.version})`);
console.log("| handler | bare ns/call | with metrics ns/call | added ns/request |");
console.log("| --- | --- | --- | --- |");
for (const [name, b, w] of rows) console.log(`| ${name} | ${b.toFixed(1)} | ${w.toFixed(1)} | ${(w - b).toFixed(1)} |`);
const counted = region.totals().slots[0]!.requests[1]!;
console.log(`(counted ${counted} requests in the lane)`);
region.close();
rmSync(dir, { recursive: true, force: true });
