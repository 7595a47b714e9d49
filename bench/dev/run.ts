// bench/dev: save-to-served time under `liveframe dev`. Each run edits the app's file, then
// polls ONE keep-alive connection until the new body appears (the connection must survive
// every reload). Baseline, measured in the same run: the app's bare import time in a fresh
// Bun process (`bun -e "await import(app)"`), which every new generation must pay.
//
//   bun bench/dev/run.ts [--runs N]        (default 20)
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeepAliveClient, LISTENING, spawnCli } from "../../test/cli-support.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 20;
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 500) {
  console.error(`--runs ${process.argv[runsArg + 1]}: expected a whole number from 1 to 500`);
  process.exit(2);
}
/** Give the old generation time to exit so runs do not overlap each other's drain. */
const PAUSE_BETWEEN_RUNS_MS = 300;
/** A save not served within this is a failure, not a slow sample (the bound is 3 s). */
const RUN_TIMEOUT_MS = 15_000;

/** A small but real Hono app: routing, a middleware, JSON. */
const appSource = (version: number) => `import { Hono } from "hono";
const app = new Hono();
app.use(async (c, next) => { await next(); c.header("x-version", "${version}"); });
app.get("/", (c) => c.text("version ${version}"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), version: ${version} }));
app.post("/echo", async (c) => c.json(await c.req.json()));
export default app;
`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), min: s[0]!, max: s[s.length - 1]! };
};

async function bareImportMs(entry: string): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn([process.execPath, "-e", `await import(${JSON.stringify(entry)})`], { stdout: "ignore", stderr: "inherit" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`bare import of ${entry} exited ${code}`);
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), "lf-bench-dev-"));
const entry = join(dir, "app.ts");
mkdirSync(join(dir, "node_modules"));
symlinkSync(join(ROOT, "node_modules", "hono"), join(dir, "node_modules", "hono"));
writeFileSync(entry, appSource(0));

const cli = spawnCli(["dev", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(dir, ".rt"), "app.ts"], { cwd: dir });
let exitCode = 0;
try {
  const port = Number((await cli.waitFor(LISTENING, 60_000))[1]);
  const client = await KeepAliveClient.connect(port);
  const localPort = client.localPort;
  if ((await client.get("/")).body !== "version 0") throw new Error("the app did not serve version 0");

  const serve: number[] = [];
  const imports: number[] = [];
  /** The supervisor's own reload time for the same save, from dev's line "generation N (…) serving in X ms". */
  const reloads: number[] = [];
  let polls = 0;
  for (let run = 1; run <= RUNS; run++) {
    // Baseline and measurement alternate, so both see the same machine load.
    imports.push(await bareImportMs(entry));
    const want = `version ${run}`;
    const mark = cli.mark();
    writeFileSync(entry, appSource(run));
    const t0 = performance.now();
    for (;;) {
      polls++;
      if ((await client.get("/")).body === want) break;
      if (performance.now() - t0 > RUN_TIMEOUT_MS) throw new Error(`run ${run}: ${want} not served within ${RUN_TIMEOUT_MS} ms`);
      await Bun.sleep(5);
    }
    serve.push(performance.now() - t0);
    const line = await cli.waitFor(/generation \d+ \([^)]*\) serving in (\d+) ms/, RUN_TIMEOUT_MS, mark);
    reloads.push(Number(line[1]));
    await Bun.sleep(PAUSE_BETWEEN_RUNS_MS);
  }
  if (client.closed || client.localPort !== localPort) throw new Error("the keep-alive connection did not survive the reloads");
  client.close();

  const s = stats(serve);
  const b = stats(imports);
  const r = stats(reloads);
  const f = (n: number) => `${n.toFixed(0)} ms`;
  console.log(`\nliveframe dev: save-to-served on one keep-alive connection (${RUNS} saves, ${polls} polls, connection kept: yes)`);
  console.log(`machine: ${navigator.hardwareConcurrency} cores, bun ${Bun.version}, ${process.platform}/${process.arch}\n`);
  console.log("| measurement | p50 | p95 | min | max |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(`| save → new body served (liveframe dev) | ${f(s.p50)} | ${f(s.p95)} | ${f(s.min)} | ${f(s.max)} |`);
  console.log(`| of which the reload itself (new generation booted + handoff), as dev reports it | ${f(r.p50)} | ${f(r.p95)} | ${f(r.min)} | ${f(r.max)} |`);
  console.log(`| baseline: fresh bun process importing the app | ${f(b.p50)} | ${f(b.p95)} | ${f(b.min)} | ${f(b.max)} |`);
  console.log(`| overhead over the baseline (p50 difference) | ${f(s.p50 - b.p50)} | | | |`);
  console.log(`\nratio save-to-served / bare import (p50): ${(s.p50 / b.p50).toFixed(2)}x`);
  console.log(`target (issue 5): visible within 3000 ms; aim < 500 ms + import time = ${f(500 + b.p50)} → ${s.p95 < 500 + b.p50 ? "met at p95" : s.p50 < 500 + b.p50 ? "met at p50 only" : "NOT met"}`);
} catch (e) {
  console.error(`bench/dev failed: ${(e as Error).message}`);
  console.error(cli.output().slice(-2000));
  exitCode = 1;
} finally {
  cli.kill("SIGTERM");
  await Promise.race([cli.proc.exited, Bun.sleep(10_000)]);
  cli.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
