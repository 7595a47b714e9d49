// Workers benchmark: liveframe with --workers 1 and --workers 2 (shared listener, and one
// SO_REUSEPORT socket per worker), and 2 Bun.serve processes with
// reusePort, in the same run, on a CPU-bound route (/cpu, ~100 µs of hashing) and plaintext (/):
// req/s, p99, how requests spread over the processes, and how much CPU wrk itself took (it
// shares the machine). Then a reload run: wrk on liveframe --workers 2 while it reloads.
//
//   bun bench/workers/run.ts [--duration 10] [--reloads 10] [--connections 64] [--many 1000] [--only cpu]
//
// `--only cpu`: just the /cpu rows (the 1-vs-2-workers ratio), no reload run: a quick re-check.
//
// Exits 1 if the reload run lost anything (errors must be 0).
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ensureWrk, parseBenchFlags, readUntil } from "../support.ts";
import { sendControl } from "../../src/supervisor/client.ts";
import { burn, CPU_HASHES } from "./app.ts";

const here = import.meta.dir;
const repo = join(here, "../..");
const bun = process.execPath;
const a = parseBenchFlags(
  "bench/workers",
  process.argv.slice(2),
  z.object({
    duration: z.coerce.number().int().min(2).max(600).default(10),
    reloads: z.coerce.number().int().min(0).max(100).default(10),
    connections: z.coerce.number().int().min(1).max(10_000).default(64),
    many: z.coerce.number().int().min(1).max(10_000).default(1000),
    only: z.enum(["all", "cpu"]).default("all"),
  }),
);

interface Server {
  name: string;
  port: number;
  pids(): Promise<number[]>;
  reload?(): Promise<{ ok: boolean; error?: string }>;
  stop(): Promise<void>;
}

const CLK_TCK = 100;
/** user + system CPU seconds of a process so far (/proc/PID/stat). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function startLiveframe(workers: number, countDir: string, spread: "shared" | "reuseport" = "shared"): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-bench-workers-"));
  const rt = join(dir, "rt");
  const proc = spawn([bun, join(repo, "bin/liveframe.ts"), "start", join(here, "app.ts"), "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "--workers", String(workers), "--spread", spread], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, NO_COLOR: "1", BENCH_COUNT_DIR: countDir },
  });
  const m = await readUntil(proc, /listening on \S+:(\d+)/, `liveframe --workers ${workers}`, 60_000);
  return {
    name: `liveframe --workers ${workers}${spread === "reuseport" ? " --spread reuseport" : ""}`,
    port: Number(m[1]),
    pids: async () => (await sendControl(rt, { cmd: "status" })).workerPids ?? [],
    reload: async () => {
      const o = await sendControl(rt, { cmd: "reload", timeoutMs: 30_000 });
      return { ok: o.ok, error: o.error };
    },
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startBunPair(countDir: string): Promise<Server> {
  const env = { ...process.env, BENCH_COUNT_DIR: countDir };
  const first = spawn([bun, join(here, "bun-serve.ts")], { stdout: "pipe", stderr: "inherit", env });
  const port = Number((await readUntil(first, /ready (\d+)/, "Bun.serve #1", 60_000))[1]);
  const second = spawn([bun, join(here, "bun-serve.ts")], { stdout: "pipe", stderr: "inherit", env: { ...env, PORT: String(port) } });
  await readUntil(second, /ready (\d+)/, "Bun.serve #2", 60_000);
  return {
    name: "2× Bun.serve reusePort",
    port,
    pids: async () => [first.pid, second.pid],
    stop: async () => {
      for (const p of [first, second]) p.kill("SIGTERM");
      await Promise.all([first.exited, second.exited]);
    },
  };
}

interface Wrk {
  rps: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /** CPU seconds wrk used, and as a share of the machine's CPU over the run. */
  wrkCpu: number;
  wrkShare: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
}

async function wrk(port: number, path: string, connections: number, seconds: number, during?: () => Promise<void>): Promise<Wrk> {
  const p = spawn(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}${path}`], { stdout: "pipe", stderr: "pipe" });
  const out = new Response(p.stdout as ReadableStream).text();
  await during?.();
  await p.exited;
  const text = await out;
  const usage = p.resourceUsage();
  const wrkCpu = usage ? Number(usage.cpuTime.total) / 1e6 : NaN;
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p99Ms: toMs(/\s99%\s+(\S+)/.exec(text)?.[1] ?? ""),
    errors: se ? Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    wrkCpu,
    wrkShare: wrkCpu / (seconds * cpus().length),
  };
}

/** Requests each process served since `before` (from BENCH_COUNT_DIR), largest first, as shares. */
function counts(dir: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const f of readdirSync(dir)) m.set(Number(f), Number(readFileSync(join(dir, f), "utf8")) || 0);
  return m;
}
function balance(before: Map<number, number>, after: Map<number, number>, pids: number[]): string {
  const served = pids.map((p) => (after.get(p) ?? 0) - (before.get(p) ?? 0));
  const total = served.reduce((x, y) => x + y, 0);
  return total > 0 ? served.map((s) => `${Math.round((100 * s) / total)}%`).join("/") : "-";
}

interface Row {
  server: string;
  route: string;
  connections: number;
  wrk: Wrk;
  balance: string;
  serverCpu: number;
}

ensureWrk();
const t0 = performance.now();
for (let i = 0; i < 200; i++) burn();
const burnUs = ((performance.now() - t0) / 200) * 1000;
const rows: Row[] = [];
const countDir = mkdtempSync(join(tmpdir(), "liveframe-bench-counts-"));

async function measure(server: Server, route: string, connections: number): Promise<void> {
  const pids = await server.pids();
  // Warm up (JIT, connection setup) outside the measurement.
  await wrk(server.port, route, 8, 1);
  await Bun.sleep(250);
  const before = counts(countDir);
  const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const w = await wrk(server.port, route, connections, a.duration);
  const cpu1 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  await Bun.sleep(250);
  rows.push({ server: server.name, route, connections, wrk: w, balance: balance(before, counts(countDir), pids), serverCpu: cpu1 - cpu0 });
  console.error(`  ${server.name} ${route} -c${connections}: ${Math.round(w.rps)} req/s`);
}

const plan: [() => Promise<Server>, [string, number][]][] = [
  [() => startLiveframe(1, countDir), [["/cpu", a.connections], ["/", a.connections]]],
  [() => startLiveframe(2, countDir), [["/cpu", a.connections], ["/", a.connections], ["/", a.many]]],
  [() => startLiveframe(2, countDir, "reuseport"), [["/cpu", a.connections], ["/", a.connections], ["/", a.many]]],
  [() => startBunPair(countDir), [["/cpu", a.connections], ["/", a.connections], ["/", a.many]]],
];
for (const [start, runs] of plan) {
  const server = await start();
  try {
    for (const [route, c] of runs) if (a.only === "all" || route === "/cpu") await measure(server, route, c);
  } finally {
    await server.stop();
  }
}

// Reload under load: wrk on plaintext while liveframe --workers 2 reloads `reloads` times.
const failedReloads: string[] = [];
let reloadWrk: Wrk | null = null;
const reloadServer = a.only === "all" ? await startLiveframe(2, countDir) : null;
if (reloadServer) {
  try {
    reloadWrk = await wrk(reloadServer.port, "/", a.connections, a.duration, async () => {
      const gap = (a.duration * 1000) / (a.reloads + 1);
      for (let i = 0; i < a.reloads; i++) {
        await Bun.sleep(gap);
        const r = await reloadServer.reload!();
        if (!r.ok) failedReloads.push(r.error ?? "?");
      }
    });
  } finally {
    await reloadServer.stop();
  }
}
rmSync(countDir, { recursive: true, force: true });

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "?");
console.log(
  `bench/workers: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}, wrk -t1 -d${a.duration}s; /cpu = ${CPU_HASHES} chained SHA-256 = ${f(burnUs)} µs here (one process, this run)`,
);
// The machine is shared: "server cores" is how much CPU the server's processes actually got
// (CPU seconds / run seconds), "req per CPU-s" what they did with it.
const header = ["server", "route", "conns", "req/s", "p99 ms", "errors", "balance", "server cores", "req per CPU-s", "wrk CPU s (share of machine)"];
console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
for (const r of rows) {
  console.log(
    `| ${[r.server, r.route, r.connections, f(r.wrk.rps), f(r.wrk.p99Ms, 2), r.wrk.errors + r.wrk.non2xx, r.balance, f(r.serverCpu / a.duration, 2), f((r.wrk.rps * a.duration) / r.serverCpu), `${f(r.wrk.wrkCpu, 1)} (${f(100 * r.wrk.wrkShare)}%)`].join(" | ")} |`,
  );
}
const rps = (server: string, route: string) => rows.find((r) => r.server === server && r.route === route && r.connections === a.connections)?.wrk.rps ?? NaN;
const one = "liveframe --workers 1";
const two = "liveframe --workers 2";
const pair = "2× Bun.serve reusePort";
console.log(
  `\n/cpu: 2 workers / 1 worker = ${f(rps(two, "/cpu") / rps(one, "/cpu"), 2)}x (done-when ≥ 1.6x); 2 workers / 2× Bun.serve = ${f(rps(two, "/cpu") / rps(pair, "/cpu"), 2)}x`,
);
// The machine is shared: the ratio above is bounded by the CPU the server got. What each worker
// did per CPU-second says whether a second core is used as well as the first.
const perCpu = (server: string) => {
  const r = rows.find((x) => x.server === server && x.route === "/cpu" && x.connections === a.connections);
  return r ? (r.wrk.rps * a.duration) / r.serverCpu : NaN;
};
const cores = (server: string) => (rows.find((x) => x.server === server && x.route === "/cpu")?.serverCpu ?? NaN) / a.duration;
console.log(
  `/cpu: the server got ${f(cores(one), 2)} cores with 1 worker and ${f(cores(two), 2)} with 2; requests per CPU-second, 2 workers / 1 worker = ${f(perCpu(two) / perCpu(one), 2)}`,
);
if (a.only === "all") console.log(`/: 2 workers / 1 worker = ${f(rps(two, "/") / rps(one, "/"), 2)}x; 2 workers / 2× Bun.serve = ${f(rps(two, "/") / rps(pair, "/"), 2)}x`);
const rr = "liveframe --workers 2 --spread reuseport";
console.log(`/cpu: 2 workers reuseport / 1 worker = ${f(rps(rr, "/cpu") / rps(one, "/cpu"), 2)}x${a.only === "all" ? `; /: ${f(rps(rr, "/") / rps(one, "/"), 2)}x` : ""}`);
if (!reloadWrk) process.exit(0);
const lost = reloadWrk.errors + reloadWrk.non2xx + failedReloads.length;
console.log(
  `reload under load (liveframe --workers 2, wrk -c${a.connections} on /, ${a.reloads} reloads in ${a.duration} s): ${f(reloadWrk.rps)} req/s, p99 ${f(reloadWrk.p99Ms, 2)} ms, socket errors ${reloadWrk.errors}, non-2xx ${reloadWrk.non2xx}, failed reloads ${failedReloads.length}${failedReloads.length ? `: ${failedReloads.join("; ")}` : ""}`,
);
process.exit(lost > 0 ? 1 : 0);
