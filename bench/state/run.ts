// State benchmark: ns per operation of the state views against a plain JS object and a Map
// measured in the same run, first alone, then while a second process hammers the same
// state file with the same operation. `bun bench/state/run.ts`
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeRunners, ITERATIONS, OPS, type Op } from "./ops.ts";

/** Timed runs per cell; the median is reported (the machine is shared, runs are noisy). */
const RUNS = 5;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liveframe-bench-state-"));
const file = path.join(dir, "bench.bin");
const runners = makeRunners(file);
let sink = 0;

function nsPerOp(run: (n: number) => number, n: number): number {
  sink += run(Math.min(n, 10_000)); // warm-up (JIT)
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = Bun.nanoseconds();
    sink += run(n);
    samples.push((Bun.nanoseconds() - t) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[RUNS >> 1]!;
}

type Row = { op: Op; state: number; object: number; map: number };

function measureAll(): Row[] {
  return OPS.map((op) => {
    const r = runners[op];
    const n = ITERATIONS[op];
    return { op, state: nsPerOp(r.state, n), object: nsPerOp(r.object, n), map: nsPerOp(r.map, n) };
  });
}

async function contended(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const op of OPS) {
    const child = Bun.spawn([process.execPath, path.join(import.meta.dir, "contender.ts"), file, op], {
      stdout: "pipe",
      stderr: "inherit",
    });
    try {
      const reader = child.stdout.getReader();
      const first = await reader.read(); // "ready"
      if (!new TextDecoder().decode(first.value).includes("ready")) throw new Error("contender did not start");
      const r = runners[op];
      const n = ITERATIONS[op];
      rows.push({ op, state: nsPerOp(r.state, n), object: nsPerOp(r.object, n), map: nsPerOp(r.map, n) });
    } finally {
      child.kill(9);
      await child.exited;
    }
  }
  return rows;
}

function table(title: string, rows: Row[]): string {
  const f = (x: number) => x.toFixed(1).padStart(9);
  const lines = [
    title,
    `| operation     |  state ns |  object ns |    Map ns | state / object | state / Map |`,
    `| ------------- | --------: | ---------: | --------: | -------------: | ----------: |`,
    ...rows.map(
      (r) =>
        `| ${r.op.padEnd(13)} | ${f(r.state)} | ${f(r.object).padStart(10)} | ${f(r.map)} | ${(r.state / r.object).toFixed(1).padStart(13)}x | ${(r.state / r.map).toFixed(1).padStart(10)}x |`,
    ),
  ];
  return lines.join("\n");
}

try {
  console.log(`liveframe state benchmark: median of ${RUNS} runs, ${os.cpus().length} cores, Bun ${Bun.version}`);
  console.log(table("\none process", measureAll()));
  console.log(
    table(
      "\ntwo processes: a second process repeats the same state operation on the same file meanwhile\n" +
        "(object and Map are per process and cannot be shared: their rows show the cost of the busy CPU only)",
      await contended(),
    ),
  );
  if (sink === 0.5) console.log(sink); // keeps the loops observable
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
