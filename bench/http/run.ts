// HTTP benchmark: the same Hono app on liveframe serve(), Bun.serve and Node + @hono/node-server,
// measured side by side in one run with wrk (-t1 -c64), warm-up first, servers alternating in a
// rotating order each round. Prints requests/s and p99 latency (medians over the rounds) and the
// ratio of each server to Bun.serve per route (the median of the per-round ratios, and their
// range), plus server CPU time per request (lower is better),
// which the other load on a shared machine disturbs far less than requests/s. "raw ceiling" is
// Bun.listen writing one precomputed response per request head (no parser, no app): the bound.
//
//   bun bench/http/run.ts [--duration 3] [--rounds 5] [--warmup 2] [--connections 64] [--metrics on] [--pin off] [--only plaintext,json]
import { spawn, spawnSync, type Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ensureWrk, parseBenchFlags, readUntil } from "../support.ts";

const here = import.meta.dir;
const argsSchema = z.object({
  duration: z.coerce.number().int().min(1).max(120).default(3),
  rounds: z.coerce.number().int().min(1).max(20).default(5),
  warmup: z.coerce.number().int().min(0).max(60).default(2),
  connections: z.coerce.number().int().min(1).max(10_000).default(64),
  only: z.string().optional(),
  /** on: also run liveframe with request metrics counted (server-liveframe-metrics.ts), to read their cost. */
  metrics: z.enum(["on", "off"]).default("off"),
  /**
   * on (default with 2+ CPUs and taskset): wrk on the last CPU, every server on the others, as a
   * separate load-generator machine would be; off: wherever the scheduler puts them.
   */
  pin: z.enum(["on", "off"]).default("on"),
});

interface Route {
  name: string;
  path: string;
  script?: string;
}
const ROUTES: Route[] = [
  { name: "plaintext", path: "/" },
  { name: "json", path: "/json" },
  { name: "params", path: "/user/42" },
  { name: "echo 1 KiB", path: "/echo", script: join(here, "post-1k.lua") },
  { name: "plaintext pipelined x16", path: "/", script: join(here, "pipeline-16.lua") },
];

interface ServerSpec {
  name: string;
  cmd: string[];
}
const bun = process.execPath;
const SERVERS: ServerSpec[] = [
  { name: "liveframe", cmd: [bun, join(here, "server-liveframe.ts")] },
  { name: "Bun.serve", cmd: [bun, join(here, "server-bun.ts")] },
  { name: "node", cmd: ["node", join(here, "server-node.mjs")] },
  // Not a real server: the same fixed response to everything (see server-raw.ts). Shows the headroom.
  { name: "raw ceiling", cmd: [bun, join(here, "server-raw.ts")] },
];

const METRICS_SERVER: ServerSpec = { name: "liveframe+metrics", cmd: [bun, join(here, "server-liveframe-metrics.ts")] };

function ensureNode(): boolean {
  const r = spawnSync(["node", "--version"]);
  if (r.exitCode !== 0) {
    console.log("node is not installed: the Node + @hono/node-server column is left out");
    return false;
  }
  const probe = spawnSync(["node", "-e", "import('@hono/node-server').then(()=>{},()=>process.exit(3))"], { cwd: here });
  if (probe.exitCode !== 0) {
    console.log("@hono/node-server is not installed (npm install): the Node column is left out");
    return false;
  }
  return true;
}

interface Running {
  spec: ServerSpec;
  proc: Subprocess;
  port: number;
}

/**
 * CPU pinning (see --pin): the prefix for server commands and for wrk, or empty prefixes when
 * off or impossible (one CPU, no taskset), with the reason printed.
 */
interface Pinning {
  server: string[];
  load: string[];
  says: string;
}

function pinning(wanted: boolean): Pinning {
  const none = (why: string): Pinning => ({ server: [], load: [], says: why });
  if (!wanted) return none("not pinned (--pin off): wrk and the servers share every CPU");
  const status = readFileSync("/proc/self/status", "utf8");
  const list = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? "";
  const ids: number[] = [];
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let i = a; i <= (b ?? a); i++) ids.push(i);
  }
  if (ids.length < 2) return none("not pinned: one CPU, so wrk and the servers share it");
  if (spawnSync(["taskset", "-V"]).exitCode !== 0) return none("not pinned: taskset is missing (apt-get install util-linux)");
  const load = ids[ids.length - 1]!;
  const servers = ids.slice(0, -1).join(",");
  return {
    server: ["taskset", "-c", servers],
    load: ["taskset", "-c", String(load)],
    says: `pinned: wrk on CPU ${load}, each server on CPU ${servers} (--pin off to let them share)`,
  };
}

async function startServer(spec: ServerSpec, pin: Pinning): Promise<Running> {
  const proc = spawn([...pin.server, ...spec.cmd], { cwd: join(here, "..", ".."), env: { ...process.env, PORT: "0" }, stdout: "pipe", stderr: "inherit" });
  return { spec, proc, port: Number((await readUntil(proc, /ready (\d+)/, spec.name, 20_000))[1]) };
}

interface Sample {
  rps: number;
  p99Ms: number;
  errors: number;
  /** Server CPU time (user + system) per request, µs: less sensitive than req/s to other load on a shared machine. */
  cpuUs: number;
}

const CLOCK_TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64

/** utime + stime of a process, in seconds (proc(5) /proc/pid/stat fields 14 and 15). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function wrk(pin: Pinning, port: number, route: Route, seconds: number, connections: number, pid = 0): Sample {
  const cpuBefore = cpuSeconds(pid);
  const args = [...pin.load, "wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency"];
  if (route.script) args.push("-s", route.script);
  args.push(`http://127.0.0.1:${port}${route.path}`);
  const r = spawnSync(args);
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`wrk failed: ${r.stderr.toString() || out}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const p99Ms = p99 ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1) : NaN;
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests;
  return { rps, p99Ms, errors, cpuUs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runHttpBench(argv: string[]): Promise<void> {
  const opts = parseBenchFlags("bench/http", argv, argsSchema);
  ensureWrk();
  const withNode = ensureNode() ? SERVERS : SERVERS.filter((s) => s.name !== "node");
  const specs = opts.metrics === "on" ? [withNode[0]!, METRICS_SERVER, ...withNode.slice(1)] : withNode;
  const only = opts.only?.split(",");
  const routes = only ? ROUTES.filter((r) => only.some((o) => r.name.startsWith(o))) : ROUTES;
  console.log(`machine: ${cpus().length} cpus (nproc), ${cpus()[0]?.model ?? "unknown CPU"}; bun ${Bun.version}; node ${spawnSync(["node", "--version"]).stdout.toString().trim() || "-"}`);
  const pin = pinning(opts.pin === "on");
  console.log(`wrk -t1 -c${opts.connections} -d${opts.duration}s, ${opts.rounds} rounds, ${opts.warmup}s warm-up per server and route; medians shown`);
  console.log(`${pin.says}\n`);
  const running: Running[] = [];
  try {
    for (const spec of specs) running.push(await startServer(spec, pin));
    const results = new Map<string, Sample[]>();
    for (const route of routes) {
      for (const r of running) {
        if (opts.warmup > 0) wrk(pin, r.port, route, opts.warmup, opts.connections);
      }
      for (let round = 0; round < opts.rounds; round++) {
        // Rotate who goes first so drift on a shared machine does not favour one server.
        for (let k = 0; k < running.length; k++) {
          const r = running[(k + round) % running.length]!;
          const sample = wrk(pin, r.port, route, opts.duration, opts.connections, r.proc.pid);
          const key = `${route.name}\t${r.spec.name}`;
          results.set(key, [...(results.get(key) ?? []), sample]);
        }
      }
    }
    // Ratios are paired: each round measures every server back to back, so each server's ratio
    // to Bun.serve is taken within a round, then the median over the rounds is shown with their
    // range. Drift in the machine's speed between rounds (other load on a shared host) cancels.
    const rows: string[][] = [["route", "server", "req/s", "p99 ms", "vs Bun.serve", "rounds (min–max)", "cpu µs/req", "cpu vs Bun.serve", "errors"]];
    for (const route of routes) {
      const baseSamples = results.get(`${route.name}\tBun.serve`) ?? [];
      for (const r of running) {
        const samples = results.get(`${route.name}\t${r.spec.name}`) ?? [];
        const ratios = samples.map((s, i) => s.rps / baseSamples[i]!.rps);
        const cpuRatios = samples.map((s, i) => s.cpuUs / baseSamples[i]!.cpuUs);
        rows.push([
          route.name,
          r.spec.name,
          median(samples.map((s) => s.rps)).toFixed(0),
          // wrk cannot time pipelined requests one by one (it reports 0): show that as "-".
          ((p) => (p > 0 ? p.toFixed(2) : "-"))(median(samples.map((s) => s.p99Ms))),
          `${median(ratios).toFixed(2)}x`,
          `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`,
          median(samples.map((s) => s.cpuUs)).toFixed(1),
          `${median(cpuRatios).toFixed(2)}x`,
          String(samples.reduce((a, s) => a + s.errors, 0)),
        ]);
      }
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const [i, row] of rows.entries()) {
      console.log(`| ${row.map((c, j) => c.padEnd(widths[j]!)).join(" | ")} |`);
      if (i === 0) console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
    }
  } finally {
    for (const r of running) r.proc.kill();
    await Promise.all(running.map((r) => r.proc.exited));
  }
}

if (import.meta.main) {
  runHttpBench(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
