// A child process for the state tests: `bun test/state-child.ts <mode> <file> [n]`.
// Prints progress lines on stdout (written synchronously, so a parent that reads a line
// knows the child has reached that point).
import * as fs from "node:fs";
import { z } from "zod";
import { defineState } from "../src/state/index.ts";
import { StateRegion } from "../src/state/region.ts";
import { leavesOf } from "../src/state/layout.ts";
import { parseStateSchema } from "../src/state/schema.ts";

const [mode = "", file = "", arg = "0"] = process.argv.slice(2);
const n = Number(arg);
const say = (line: string) => fs.writeSync(1, `${line}\n`);

export const counterSchema = z.object({ hits: z.int32() });
export const pairSchema = z.object({ a: z.int32(), b: z.int32(), s: z.string().max(24), f: z.float64(), big: z.int64() });
export const v1Schema = z.object({ hits: z.int32(), name: z.string().max(16) });
export const v2Schema = z.object({ hits: z.int32(), name: z.string().max(16), extra: z.uint32(), note: z.string().max(32) });
/** The counter plus a 16 KiB field: growing to it needs several new pages. */
export const bigSchema = z.object({ hits: z.int32(), blob: z.string().max(16384) });
/** v1 with `hits` changed from int32 to a string: an incompatible change. */
export const changedSchema = z.object({ hits: z.string().max(8), name: z.string().max(16) });

/** The invariant every pair writer keeps: b = -a, s = "v" + a, f = a / 2, big = a * 3. */
export function pairConsistent(p: { a: number; b: number; s: string; f: number; big: bigint }): boolean {
  return p.b === -p.a && p.s === `v${p.a}` && p.f === p.a / 2 && p.big === BigInt(p.a) * 3n;
}

if (import.meta.main) switch (mode) {
  case "add": {
    const s = defineState(counterSchema, { file });
    say("ready");
    for (let i = 0; i < n; i++) s.hits.add(1);
    say("done");
    break;
  }
  case "v1-add": {
    // Adds while (maybe) another process appends fields to the same file.
    // The second half runs only after another process grew the file: this process keeps
    // its mapping and its offsets across the growth.
    const s = defineState(v1Schema, { file });
    const sizeAtStart = fs.statSync(file).size;
    say("ready");
    for (let i = 0; i < n; i++) {
      if (i === n >> 1) {
        say("half");
        for (let t = 0; t < 3000 && fs.statSync(file).size === sizeAtStart; t++) Bun.sleepSync(10);
        say(fs.statSync(file).size > sizeAtStart ? "grown" : "not grown");
      }
      s.hits.add(1);
      if (i % 1000 === 0) s.name.set(`v1-${i}`);
    }
    say(`done ${JSON.stringify(s.snapshot())}`);
    break;
  }
  case "v2-add": {
    const s = defineState(v2Schema, { file });
    say("ready");
    for (let i = 0; i < n; i++) {
      s.hits.add(1);
      s.extra.add(1);
      if (i % 1000 === 0) s.note.set(`v2-${i}`);
    }
    say("done");
    break;
  }
  case "pair-writer": {
    const s = defineState(pairSchema, { file });
    say("ready");
    for (let i = 1; i <= n; i++) {
      const a = (process.pid % 1000) * 100000 + i;
      s.update((d) => {
        d.a = a;
        d.b = -a;
        d.s = `v${a}`;
        d.f = a / 2;
        d.big = BigInt(a) * 3n;
      });
    }
    say("done");
    break;
  }
  case "pair-writer-forever": {
    const s = defineState(pairSchema, { file });
    say("ready");
    for (let i = 1; ; i++) {
      const a = i % 1_000_000;
      s.update((d) => ({ a, b: -a, s: `v${a}`, f: a / 2, big: BigInt(a) * 3n }));
    }
  }
  case "pair-reader": {
    const s = defineState(pairSchema, { file });
    say("ready");
    let torn = 0;
    for (let i = 0; i < n; i++) {
      const p = s.snapshot();
      if (!pairConsistent(p)) {
        torn++;
        if (torn < 5) say(`torn ${JSON.stringify({ ...p, big: String(p.big) })}`);
      }
      const str = s.s.get();
      if (!/^v-?\d+$/.test(str) && str !== "") torn++;
    }
    say(`done torn=${torn}`);
    break;
  }
  case "hold-lock": {
    // Takes the lock inside update(fn) and never lets go: the parent kills it with -9.
    const s = defineState(pairSchema, { file });
    s.update((d) => {
      d.a = 999;
      say("locked");
      Bun.sleepSync(120_000);
    });
    break;
  }
  case "die-mid-write": {
    // Simulates a writer killed half-way through a write: seq odd, `a` added to, the
    // string half overwritten. The parent kills it with -9 at that point.
    defineState(pairSchema, { file });
    const region = StateRegion.open(file);
    const entries = region.adopt(leavesOf(parseStateSchema(pairSchema)));
    const a = entries.get("a")!;
    const b = entries.get("b")!;
    const big = entries.get("big")!;
    const str = entries.get("s")!;
    const SAVED = 1; // journal.ts: recorded, not known to be applied
    region.lock.acquire();
    region.journal.begin();
    // `a`: the delta was added, the writer died before marking it applied.
    region.journal.addDelta32(a, 12345, false);
    Atomics.store(region.i32, a.journal >> 2, SAVED);
    // `b`: the delta was recorded, the writer died before adding it.
    region.f64[(b.journal + 8) >> 3] = 777;
    region.u32[(b.journal + 4) >> 2] = region.u32[(a.journal + 4) >> 2]!;
    Atomics.store(region.i32, b.journal >> 2, SAVED);
    // `big`: same as `a`, for a 64-bit integer.
    region.journal.addDelta64(big, 1000n, false);
    Atomics.store(region.i32, big.journal >> 2, SAVED);
    // `s`: half overwritten.
    region.journal.saveBytes(str);
    region.u8.fill(0x41, str.offset + 4, str.offset + 14); // "AAAAAAAAAA" over the old bytes
    region.u32[str.offset >> 2] = 10;
    say("mid-write");
    Bun.sleepSync(120_000);
    break;
  }
  case "mlock": {
    // Two states: a failing mlock must warn once per process, not once per state.
    const lock = arg === "require" ? "require" : "try";
    const s = defineState(counterSchema, { file, lock });
    const t = defineState(pairSchema, { file: `${file}.second`, lock });
    s.hits.add(1);
    t.a.add(2);
    say(`locked=${s.info.locked},${t.info.locked} hits=${s.hits.get()}`);
    break;
  }
  case "define": {
    // Defines a schema given as the name of an exported one; reports the outcome.
    const schemas: Record<string, z.ZodObject> = { counterSchema, pairSchema, v1Schema, v2Schema, changedSchema, bigSchema };
    try {
      const s = defineState(schemas[arg] ?? counterSchema, { file });
      say(`ok ${JSON.stringify(s.snapshot(), (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
    } catch (e) {
      say(`error ${(e as Error).message}`);
      process.exit(3);
    }
    break;
  }
  case "commands": {
    // A long-lived holder of a counter, driven by stdin lines: "add N", "sync", "get", "exit".
    // Answers each with one stdout line ("hits=N", "synced", ...), so the parent knows where it is.
    const s = defineState(counterSchema, { file });
    say(`ready hits=${s.hits.get()}`);
    for await (const line of console) {
      const [cmd, value] = line.trim().split(" ");
      if (cmd === "add") say(`hits=${s.hits.add(Number(value ?? 1))}`);
      else if (cmd === "get") say(`hits=${s.hits.get()}`);
      else if (cmd === "sync") {
        s.sync();
        say("synced");
      } else if (cmd === "exit") break;
    }
    process.exit(0);
  }
  default:
    console.error(`state-child: unknown mode "${mode}"`);
    process.exit(2);
}
