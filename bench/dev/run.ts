// bench/dev: save-to-served time under `liveframe dev`. Each run edits the app's file, then
// polls ONE keep-alive connection until the new body appears (the connection must survive
// every reload). Baseline, measured in the same run: the app's bare import time in a fresh
// Bun process (`bun -e "await import(app)"`), which every new generation must pay; and for
// comparison, what developers use today: `bun --watch` restarting a Bun.serve process with the
// same app (its keep-alive connection dies on every save: the client has to reconnect).
//
//   bun bench/dev/run.ts [--runs N]        (default 20)
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { KeepAliveClient, LISTENING, spawnCli } from "../../test/cli-support.ts";
import { parseBenchFlags } from "../support.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const { runs: RUNS } = parseBenchFlags("bench/dev", process.argv.slice(2), z.object({ runs: z.coerce.number().int().min(1).max(500).default(20) }));
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

function appDir(prefix: string): { dir: string; entry: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(ROOT, "node_modules", "hono"), join(dir, "node_modules", "hono"));
  writeFileSync(join(dir, "app.ts"), appSource(0));
  return { dir, entry: join(dir, "app.ts") };
}

/** A port nobody uses right now (bun --watch restarts need a fixed one). */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/**
 * `bun --watch` + Bun.serve: a save restarts the process. Polls like the liveframe runs, but a
 * closed or refused connection is counted and replaced (a browser would reconnect too).
 */
class BunWatch {
  readonly app = appDir("lf-bench-watch-");
  readonly port = freePort();
  readonly proc: ReturnType<typeof Bun.spawn>;
  client: KeepAliveClient | undefined;
  constructor() {
    writeFileSync(
      join(this.app.dir, "server.ts"),
      `import app from "./app.ts";\nBun.serve({ hostname: "127.0.0.1", port: ${this.port}, fetch: app.fetch });\n`,
    );
    this.proc = Bun.spawn([process.execPath, "--watch", "server.ts"], { cwd: this.app.dir, stdout: "ignore", stderr: "ignore" });
  }
  /** GET / on the current connection, reconnecting (and counting) when it is gone. */
  async get(): Promise<string | undefined> {
    try {
      if (!this.client || this.client.closed) {
        this.client = await KeepAliveClient.connect(this.port);
      }
      return (await this.client.get("/", 2000)).body;
    } catch {
      return undefined; // restarting: refused, or closed mid-request
    }
  }
  async close(): Promise<void> {
    this.client?.close();
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    rmSync(this.app.dir, { recursive: true, force: true });
  }
}

const { dir, entry } = appDir("lf-bench-dev-");
const watch = new BunWatch();

const cli = spawnCli(["dev", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(dir, ".rt"), "app.ts"], { cwd: dir });
let exitCode = 0;
try {
  const port = Number((await cli.waitFor(LISTENING, 60_000))[1]);
  const client = await KeepAliveClient.connect(port);
  const localPort = client.localPort;
  if ((await client.get("/")).body !== "version 0") throw new Error("the app did not serve version 0");

  for (let i = 0; i < 400 && (await watch.get()) !== "version 0"; i++) await Bun.sleep(25);
  if ((await watch.get()) !== "version 0") throw new Error("bun --watch did not serve version 0");
  let watchLost = 0;

  const serve: number[] = [];
  const imports: number[] = [];
  const bunWatch: number[] = [];
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

    const before = watch.client;
    writeFileSync(watch.app.entry, appSource(run));
    const w0 = performance.now();
    while ((await watch.get()) !== want) {
      if (performance.now() - w0 > RUN_TIMEOUT_MS) throw new Error(`run ${run}: bun --watch did not serve ${want} within ${RUN_TIMEOUT_MS} ms`);
      await Bun.sleep(5);
    }
    bunWatch.push(performance.now() - w0);
    if (watch.client !== before) watchLost++; // the connection open before the save did not serve after it
    await Bun.sleep(PAUSE_BETWEEN_RUNS_MS);
  }
  if (client.closed || client.localPort !== localPort) throw new Error("the keep-alive connection did not survive the reloads");
  client.close();

  const s = stats(serve);
  const b = stats(imports);
  const r = stats(reloads);
  const w = stats(bunWatch);
  const f = (n: number) => `${n.toFixed(0)} ms`;
  console.log(`\nliveframe dev: save-to-served on one keep-alive connection (${RUNS} saves, ${polls} polls, connection kept: yes)`);
  console.log(`machine: ${navigator.hardwareConcurrency} cores, bun ${Bun.version}, ${process.platform}/${process.arch}\n`);
  console.log("| measurement | p50 | p95 | min | max |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(`| save → new body served (liveframe dev) | ${f(s.p50)} | ${f(s.p95)} | ${f(s.min)} | ${f(s.max)} |`);
  console.log(`| of which the reload itself (new generation booted + handoff), as dev reports it | ${f(r.p50)} | ${f(r.p95)} | ${f(r.min)} | ${f(r.max)} |`);
  console.log(`| baseline: fresh bun process importing the app | ${f(b.p50)} | ${f(b.p95)} | ${f(b.min)} | ${f(b.max)} |`);
  console.log(`| overhead over the baseline (p50 difference) | ${f(s.p50 - b.p50)} | | | |`);
  console.log(`| comparison: bun --watch restarting Bun.serve, save → served | ${f(w.p50)} | ${f(w.p95)} | ${f(w.min)} | ${f(w.max)} |`);
  console.log(`\nkeep-alive connection closed by a save: liveframe dev 0 of ${RUNS}; bun --watch ${watchLost} of ${RUNS}`);
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
  await watch.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
