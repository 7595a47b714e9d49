// File serving benchmark: a 2 MiB and a 200 MiB file through hono/bun serveStatic, on liveframe's
// serve() and on Bun.serve, in the same run. For each: throughput (wrk, keep-alive) and the
// server's peak RSS (VmHWM of a fresh server process per measurement, so one run cannot inherit
// another's peak). Servers alternate in rotating order each round; medians shown.
//
//   bun bench/file/run.ts [--duration 5] [--rounds 3]
import { spawn, spawnSync, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ensureWrk, parseBenchFlags, readUntil } from "../support.ts";

const argsSchema = z.object({
  duration: z.coerce.number().int().min(1).max(120).default(5),
  rounds: z.coerce.number().int().min(1).max(20).default(3),
});
const MiB = 1024 * 1024;
const FILES = [
  { name: "2 MiB", file: "f2.bin", bytes: 2 * MiB, connections: 16 },
  { name: "200 MiB", file: "f200.bin", bytes: 200 * MiB, connections: 4 },
];
const SERVERS = ["liveframe", "bun"] as const;
const here = import.meta.dir;

function writeFile(path: string, bytes: number): void {
  const block = new Uint8Array(MiB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 131 + (i >> 9)) & 0xff;
  const fd = openSync(path, "w");
  try {
    for (let left = bytes; left > 0; left -= MiB) writeSync(fd, block, 0, Math.min(MiB, left));
  } finally {
    closeSync(fd);
  }
}

async function start(server: string, root: string): Promise<{ proc: Subprocess; port: number }> {
  const proc = spawn([process.execPath, join(here, "server.ts")], { env: { ...process.env, SERVER: server, ROOT: root, PORT: "0" }, stdout: "pipe", stderr: "inherit" });
  return { proc, port: Number((await readUntil(proc, /ready (\d+)/, server, 20_000))[1]) };
}

function vmKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

interface Sample {
  mbPerSec: number;
  rps: number;
  peakRssMb: number;
  errors: number;
}

async function measure(server: string, root: string, f: (typeof FILES)[number], seconds: number): Promise<Sample> {
  const { proc, port } = await start(server, root);
  try {
    const url = `http://127.0.0.1:${port}/${f.file}`;
    // One request first: the file is in the page cache for both servers alike.
    await (await fetch(url)).arrayBuffer();
    const r = spawnSync(["wrk", "-t1", `-c${f.connections}`, `-d${seconds}s`, "--timeout", "30s", url]);
    const out = r.stdout.toString();
    if (r.exitCode !== 0) throw new Error(`wrk failed: ${r.stderr.toString() || out}`);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    return {
      rps,
      mbPerSec: (rps * f.bytes) / MiB,
      peakRssMb: vmKb(proc.pid!, "VmHWM") / 1024,
      errors: (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx,
    };
  } finally {
    proc.kill();
    await proc.exited;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const opts = parseBenchFlags("bench/file", process.argv.slice(2), argsSchema);
ensureWrk();
const root = mkdtempSync(join(tmpdir(), "liveframe-bench-file-"));
try {
  for (const f of FILES) writeFile(join(root, f.file), f.bytes);
  console.log(`hono/bun serveStatic, wrk -t1 keep-alive, ${opts.duration}s x ${opts.rounds} rounds per server and file, fresh server per measurement; medians\n`);
  console.log("| file | server | MiB/s | req/s | vs Bun.serve | peak RSS MB | errors |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const f of FILES) {
    const samples = new Map<string, Sample[]>(SERVERS.map((s) => [s, []]));
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? SERVERS : [...SERVERS].reverse();
      for (const s of order) samples.get(s)!.push(await measure(s, root, f, opts.duration));
    }
    const bunMb = median(samples.get("bun")!.map((x) => x.mbPerSec));
    for (const s of SERVERS) {
      const xs = samples.get(s)!;
      const mb = median(xs.map((x) => x.mbPerSec));
      console.log(
        `| ${f.name} (-c${f.connections}) | ${s === "bun" ? "Bun.serve" : s} | ${mb.toFixed(0)} | ${median(xs.map((x) => x.rps)).toFixed(1)} | ${(mb / bunMb).toFixed(2)}x | ${median(xs.map((x) => x.peakRssMb)).toFixed(0)} | ${xs.reduce((a, x) => a + x.errors, 0)} |`,
      );
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
