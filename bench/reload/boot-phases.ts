// Where a reload's time goes, with and without the standby, side by side in one run (reloads
// alternate between two supervisors so both see the same machine load; no client load):
//   process start → liveframe's runtime imported (zod, the wire schemas, the engine),
//   the app's import, the rest of the boot (start hook, server built), and, as the supervisor
//   times it, trigger → ready and trigger → serving (new generation accepting).
// With the standby the runtime import happens before the reload, off its path.
//
//   bun bench/reload/boot-phases.ts [--reloads 20]
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { startSupervisor, type Supervisor, type SupervisorEvent } from "../../src/supervisor/index.ts";
import { parseBenchFlags } from "../support.ts";

const { reloads: RELOADS } = parseBenchFlags("bench/reload/boot-phases", process.argv.slice(2), z.object({ reloads: z.coerce.number().int().min(1).max(500).default(20) }));
/** Lets the new standby finish importing between reloads, as it would between real deploys. */
const PAUSE_MS = 500;

interface Sample {
  runtimeMs: number;
  appMs: number;
  restMs: number;
  readyMs: number;
  servingMs: number;
  standby: boolean;
}

async function start(standby: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-bench-phases-"));
  const samples: Sample[] = [];
  const onEvent = (e: SupervisorEvent) => {
    if (e.type !== "reloaded") return;
    const o = e.outcome as { readyMs: number; servingMs: number };
    const p = e.phases as { standby: boolean; runtimeMs: number; appMs: number; bootMs: number };
    samples.push({ runtimeMs: p.runtimeMs, appMs: p.appMs, restMs: p.bootMs - p.appMs, readyMs: o.readyMs, servingMs: o.servingMs, standby: p.standby });
  };
  const supervisor: Supervisor = await startSupervisor({
    entry: join(import.meta.dir, "app.ts"),
    port: 0,
    hostname: "127.0.0.1",
    backlog: 511,
    runtimeDir: join(dir, "rt"),
    drainTimeoutMs: 5000,
    readyTimeoutMs: 30_000,
    server: {},
    handleSignals: false,
    standby,
    onEvent,
  });
  return { supervisor, samples, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const cold = await start(false);
const warm = await start(true);
try {
  for (let i = 0; i < RELOADS; i++) {
    for (const s of [cold, warm]) {
      const o = await s.supervisor.reload({ reason: "bench" });
      if (!o.ok) throw new Error(`reload failed: ${o.error}`);
      await Bun.sleep(PAUSE_MS);
    }
  }
} finally {
  await cold.supervisor.stop();
  await warm.supervisor.stop();
  cold.cleanup();
  warm.cleanup();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const f = (xs: number[]) => `${pct(xs, 50).toFixed(0)} / ${pct(xs, 95).toFixed(0)}`;
console.log(`boot phases, ms p50 / p95, ${RELOADS} reloads each, alternating; ${cpus().length} cores, Bun ${Bun.version}, no client load`);
console.log("| phase | cold spawn (before) | standby (after) |");
console.log("| --- | --- | --- |");
const row = (name: string, pick: (s: Sample) => number, onPathWarm = true) =>
  console.log(`| ${name} | ${f(cold.samples.map(pick))} | ${f(warm.samples.map(pick))}${onPathWarm ? "" : " (before the reload)"} |`);
row("process start → runtime imported", (s) => s.runtimeMs, false);
row("app imported (boot received → imported)", (s) => s.appMs);
row("start hook + server built", (s) => s.restMs);
row("trigger → ready (supervisor)", (s) => s.readyMs);
row("trigger → serving (supervisor)", (s) => s.servingMs);
const used = warm.samples.filter((s) => s.standby).length;
console.log(`\nstandby used in ${used} of ${warm.samples.length} reloads (not used: a liveframe file or the env changed since it started); cold runs used it ${cold.samples.filter((s) => s.standby).length} times`);
console.log(`trigger → serving p50 ratio standby / cold: ${(pct(warm.samples.map((s) => s.servingMs), 50) / pct(cold.samples.map((s) => s.servingMs), 50)).toFixed(2)}x`);
