// Reload benchmark: wrk on 64 keep-alive connections plus connection-per-request loops, with
// and without N reloads, on liveframe (`liveframe start`, each reload by `liveframe reload`,
// which must exit 0; latency = trigger → new generation accepting, as the supervisor timed it) and,
// side by side in the same run, on the usual alternative: Bun.serve with reusePort, reloaded
// by starting a new instance and then stopping the old one.
//
//   bun bench/reload/run.ts [--duration 20] [--reloads 15] [--connections 64] [--loops 8]
//
// Prints one table; exits 1 if liveframe lost anything (errors must be 0).
import { spawn, spawnSync, type Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ensureWrk, parseBenchFlags, readUntil } from "../support.ts";
import { sendControl } from "../../src/supervisor/client.ts";

const here = import.meta.dir;
const bun = process.execPath;
const argsSchema = z
  .object({
    duration: z.coerce.number().int().min(2).max(600).default(20),
    reloads: z.coerce.number().int().min(1).max(500).default(15),
    connections: z.coerce.number().int().min(1).max(10_000).default(64),
    loops: z.coerce.number().int().min(0).max(256).default(8),
  });

interface Target {
  port: number;
  /** Resolves once the new instance serves; servingMs = trigger → new instance accepting. */
  reload(): Promise<{ ok: boolean; servingMs: number; error?: string }>;
  stop(): Promise<void>;
  notes(): string;
}

async function startLiveframe(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-bench-reload-"));
  const runtimeDir = join(dir, "rt");
  const proc = spawn(
    [bun, join(here, "../../bin/liveframe.ts"), "start", join(here, "app.ts"), "--port", "0", "--host", "127.0.0.1", "--runtime-dir", runtimeDir],
    { stdout: "pipe", stderr: "inherit", env: { ...process.env, NO_COLOR: "1" } },
  );
  const m = await readUntil(proc, /listening on \S+:(\d+)\S* \(supervisor pid (\d+)/, "liveframe start");
  const supervisorPid = Number(m[2]);
  let pidChanged = false;
  return {
    port: Number(m[1]),
    async reload() {
      // The real command, as an operator runs it; its exit code is the verdict.
      const cli = spawn([bun, join(here, "../../bin/liveframe.ts"), "reload", "--timeout", "30", "--runtime-dir", runtimeDir], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      });
      const [out, err, code] = await Promise.all([new Response(cli.stdout).text(), new Response(cli.stderr).text(), cli.exited]);
      const s = await sendControl(runtimeDir, { cmd: "status" });
      if (s.supervisorPid !== supervisorPid) pidChanged = true;
      const last = s.reloads[s.reloads.length - 1];
      return { ok: code === 0, servingMs: last?.servingMs ?? NaN, error: code === 0 ? undefined : `exit ${code}: ${(err + out).trim()}` };
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
    notes: () => (pidChanged ? "SUPERVISOR PID CHANGED" : `supervisor pid ${supervisorPid} unchanged`),
  };
}

async function startBunServe(): Promise<Target> {
  const launch = async (port: number) => {
    const proc = spawn([bun, join(here, "bun-serve-instance.ts")], { stdout: "pipe", stderr: "inherit", env: { ...process.env, PORT: String(port) } });
    const m = await readUntil(proc, /ready (\d+)/, "Bun.serve instance");
    return { proc, port: Number(m[1]) };
  };
  let current = await launch(0);
  const port = current.port;
  const old: Subprocess[] = [];
  return {
    port,
    async reload() {
      const t0 = performance.now();
      const next = await launch(port);
      const servingMs = performance.now() - t0;
      current.proc.kill("SIGTERM");
      old.push(current.proc);
      current = next;
      return { ok: true, servingMs };
    },
    async stop() {
      current.proc.kill("SIGTERM");
      await Promise.all([current.proc.exited, ...old.map((p) => p.exited)]);
    },
    notes: () => "new instance with reusePort, then SIGTERM → server.stop() on the old one",
  };
}

interface Wrk {
  rps: number;
  p99Ms: number;
  requests: number;
  connectErr: number;
  readErr: number;
  writeErr: number;
  timeoutErr: number;
  non2xx: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

function parseWrk(out: string): Wrk {
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p99Ms: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ""),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    connectErr: Number(se?.[1] ?? 0),
    readErr: Number(se?.[2] ?? 0),
    writeErr: Number(se?.[3] ?? 0),
    timeoutErr: Number(se?.[4] ?? 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

interface Churn {
  ok: number;
  non2xx: number;
  refused: number;
  reset: number;
  closedEarly: number;
  other: number;
  errors: string[];
}

interface Row {
  server: string;
  reloads: number;
  wrk: Wrk;
  churn: Churn;
  reloadMs: number[];
  failedReloads: string[];
  notes: string;
}

async function scenario(server: string, start: () => Promise<Target>, reloads: number, a: z.infer<typeof argsSchema>): Promise<Row> {
  const target = await start();
  // Warm-up: first requests pay for lazy compilation.
  spawnSync(["wrk", "-t1", "-c8", "-d1s", `http://127.0.0.1:${target.port}/`]);
  const churn = a.loops > 0 ? spawn([bun, join(here, "churn.ts"), String(target.port), String(a.loops)], { stdout: "pipe", stderr: "inherit" }) : null;
  const wrk = spawn(["wrk", "-t1", `-c${a.connections}`, `-d${a.duration}s`, "--latency", `http://127.0.0.1:${target.port}/`], { stdout: "pipe", stderr: "pipe" });
  const wrkOut = new Response(wrk.stdout as ReadableStream).text();
  const reloadMs: number[] = [];
  const failedReloads: string[] = [];
  const t0 = performance.now();
  const spacing = (a.duration * 1000) / (reloads + 1);
  for (let i = 0; i < reloads; i++) {
    const wait = t0 + spacing * (i + 1) - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const r = await target.reload();
    if (r.ok) reloadMs.push(r.servingMs);
    else failedReloads.push(r.error ?? "failed");
  }
  await wrk.exited;
  let churnResult: Churn = { ok: 0, non2xx: 0, refused: 0, reset: 0, closedEarly: 0, other: 0, errors: [] };
  if (churn) {
    churn.kill("SIGTERM");
    churnResult = JSON.parse((await new Response(churn.stdout as ReadableStream).text()).trim());
  }
  const notes = target.notes();
  await target.stop();
  return { server, reloads, wrk: parseWrk(await wrkOut), churn: churnResult, reloadMs, failedReloads, notes };
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const a = parseBenchFlags("bench/reload", process.argv.slice(2), argsSchema);
ensureWrk();
console.log(
  `bench/reload: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Bun ${Bun.version}, wrk -t1 -c${a.connections} -d${a.duration}s + ${a.loops} connection-per-request loops; ${a.reloads} reloads per reload run`,
);
const rows: Row[] = [];
// Alternate servers so that neither always runs on a cooler or hotter machine.
rows.push(await scenario("liveframe", startLiveframe, 0, a));
rows.push(await scenario("Bun.serve reusePort", startBunServe, 0, a));
rows.push(await scenario("liveframe", startLiveframe, a.reloads, a));
rows.push(await scenario("Bun.serve reusePort", startBunServe, a.reloads, a));

const errorsOf = (r: Row) =>
  r.wrk.connectErr + r.wrk.readErr + r.wrk.writeErr + r.wrk.timeoutErr + r.wrk.non2xx + r.churn.non2xx + r.churn.refused + r.churn.reset + r.churn.closedEarly + r.churn.other + r.failedReloads.length;
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "-");
const header = ["server", "reloads", "req/s (wrk)", "vs no reload", "p99 ms", "wrk errors c/r/w/t", "non-2xx", "per-conn ok", "refused", "reset", "closed", "reload p50 ms", "reload p95 ms", "errors"];
const lines = rows.map((r) => {
  const calm = rows.find((x) => x.server === r.server && x.reloads === 0)!;
  return [
    r.server,
    String(r.reloads - r.failedReloads.length) + (r.failedReloads.length ? ` (+${r.failedReloads.length} failed)` : ""),
    f(r.wrk.rps),
    r.reloads ? `${(r.wrk.rps / calm.wrk.rps).toFixed(2)}x` : "1.00x",
    f(r.wrk.p99Ms, 2),
    `${r.wrk.connectErr}/${r.wrk.readErr}/${r.wrk.writeErr}/${r.wrk.timeoutErr}`,
    String(r.wrk.non2xx + r.churn.non2xx),
    String(r.churn.ok),
    String(r.churn.refused),
    String(r.churn.reset),
    String(r.churn.closedEarly + r.churn.other),
    f(pct(r.reloadMs, 50)),
    f(pct(r.reloadMs, 95)),
    String(errorsOf(r)),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(fmt(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const l of lines) console.log(fmt(l));
const lf = rows.filter((r) => r.server === "liveframe");
const base = rows.filter((r) => r.server !== "liveframe");
console.log(
  `liveframe / Bun.serve req/s: ${(lf[0]!.wrk.rps / base[0]!.wrk.rps).toFixed(2)}x without reloads, ${(lf[1]!.wrk.rps / base[1]!.wrk.rps).toFixed(2)}x with reloads`,
);
for (const r of rows) if (r.reloads) console.log(`${r.server}: ${r.notes}${r.failedReloads.length ? `; failed reloads: ${r.failedReloads.join(" | ")}` : ""}${r.churn.errors.length ? `; other errors: ${r.churn.errors.join(", ")}` : ""}`);
const lost = lf.reduce((n, r) => n + errorsOf(r), 0);
if (lost > 0 || lf.some((r) => r.notes.includes("CHANGED"))) {
  console.log(`liveframe lost ${lost} requests/connections/reloads: it must be 0`);
  process.exit(1);
}
