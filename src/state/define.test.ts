import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z, ZodError } from "zod";
import { defineState, stateFile, syncAllStates } from "./define.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liveframe-state-unit-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(dir, `s${n++}.bin`);

const schema = z.object({
  hits: z.int32(),
  count: z.uint32(),
  total: z.int64(),
  bytes: z.uint64(),
  ratio: z.float64(),
  on: z.boolean(),
  mode: z.enum(["idle", "busy"]),
  name: z.string().max(8),
  user: z.object({ id: z.uint32(), tag: z.string().max(4) }),
  xs: z.array(z.int32()).length(3),
});

test("default file: <LIVEFRAME_RUNTIME_DIR or ./.liveframe>/state/<name>.bin", () => {
  const saved = process.env.LIVEFRAME_RUNTIME_DIR;
  try {
    delete process.env.LIVEFRAME_RUNTIME_DIR;
    expect(stateFile()).toBe(path.resolve(".liveframe/state/default.bin"));
    process.env.LIVEFRAME_RUNTIME_DIR = dir;
    expect(stateFile({ name: "sessions" })).toBe(path.join(dir, "state/sessions.bin"));
    const s = defineState(z.object({ x: z.int32() }), { name: "via-env" });
    expect(s.info.file).toBe(path.join(dir, "state/via-env.bin"));
    expect(fs.existsSync(s.info.file)).toBe(true);
  } finally {
    if (saved === undefined) delete process.env.LIVEFRAME_RUNTIME_DIR;
    else process.env.LIVEFRAME_RUNTIME_DIR = saved;
  }
}, 60_000);

test("LIVEFRAME_STATE_DIR puts state apart from the runtime dir", () => {
  const saved = { state: process.env.LIVEFRAME_STATE_DIR, runtime: process.env.LIVEFRAME_RUNTIME_DIR };
  try {
    process.env.LIVEFRAME_RUNTIME_DIR = path.join(dir, "run");
    process.env.LIVEFRAME_STATE_DIR = path.join(dir, "kept");
    expect(stateFile({ name: "sessions" })).toBe(path.join(dir, "kept/sessions.bin"));
    expect(stateFile({ file: "x.bin" })).toBe(path.resolve("x.bin")); // an explicit file wins
    process.env.LIVEFRAME_STATE_DIR = "";
    expect(stateFile()).toBe(path.join(dir, "run/state/default.bin"));
  } finally {
    for (const [k, v] of [["LIVEFRAME_STATE_DIR", saved.state], ["LIVEFRAME_RUNTIME_DIR", saved.runtime]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("options are validated", () => {
  expect(() => defineState(z.object({ x: z.int32() }), { name: "../etc" })).toThrow(ZodError);
  expect(() => defineState(z.object({ x: z.int32() }), { lock: "always" as "try" })).toThrow(ZodError);
}, 60_000);

test("a new state starts at zero values, and views read what they write", () => {
  const s = defineState(schema, { file: fresh() });
  expect(s.snapshot()).toEqual({
    hits: 0, count: 0, total: 0n, bytes: 0n, ratio: 0, on: false, mode: "idle", name: "",
    user: { id: 0, tag: "" }, xs: [0, 0, 0],
  });
  expect(s.hits.add(5)).toBe(5);
  expect(s.hits.add(-7)).toBe(-2);
  expect(s.count.add(3)).toBe(3);
  expect(s.total.add(-(2n ** 40n))).toBe(-(2n ** 40n));
  expect(s.bytes.add(2n ** 63n)).toBe(2n ** 63n);
  s.ratio.set(0.25);
  expect(s.ratio.add(1)).toBe(1.25);
  s.on.set(true);
  s.mode.set("busy");
  s.name.set("héllo");
  s.user.tag.set("ab");
  s.user.id.add(9);
  expect(s.xs.at(2).add(4)).toBe(4);
  expect(s.snapshot()).toEqual({
    hits: -2, count: 3, total: -(2n ** 40n), bytes: 2n ** 63n, ratio: 1.25, on: true, mode: "busy", name: "héllo",
    user: { id: 9, tag: "ab" }, xs: [0, 0, 4],
  });
  expect(s.user.get()).toEqual({ id: 9, tag: "ab" });
  s.user.set({ id: 1, tag: "cd" });
  expect(s.user.id.get()).toBe(1);
  s.xs.set([1, 2, 3]);
  expect(s.xs.get()).toEqual([1, 2, 3]);
  expect(() => s.xs.at(3)).toThrow("index out of range");
}, 60_000);

test("compareExchange stores only over the expected value and returns what was there", () => {
  const s = defineState(schema, { file: fresh() });
  s.hits.set(10);
  expect(s.hits.compareExchange(9, 20)).toBe(10);
  expect(s.hits.get()).toBe(10);
  expect(s.hits.compareExchange(10, 20)).toBe(10);
  expect(s.hits.get()).toBe(20);
  expect(s.total.compareExchange(0n, 5n)).toBe(0n);
  expect(s.ratio.compareExchange(0, 2.5)).toBe(0);
  expect(s.ratio.get()).toBe(2.5);
}, 60_000);

test("an invalid value throws a ZodError and writes nothing", () => {
  const s = defineState(schema, { file: fresh() });
  s.hits.set(1);
  s.name.set("ok");
  const before = s.snapshot();
  const bad: [string, () => void][] = [
    ["int32 fraction", () => s.hits.set(1.5)],
    ["int32 too big", () => s.hits.set(2 ** 31)],
    ["int32 as string", () => s.hits.set("3" as unknown as number)],
    ["uint32 negative", () => s.count.set(-1)],
    ["int64 as number", () => s.total.set(1 as unknown as bigint)],
    ["uint64 negative", () => s.bytes.set(-1n)],
    ["float NaN", () => s.ratio.set(Number.NaN)],
    ["boolean as 1", () => s.on.set(1 as unknown as boolean)],
    ["enum unknown", () => s.mode.set("gone" as "idle")],
    ["string too long (code units)", () => s.name.set("123456789")],
    ["string too long (UTF-8 bytes)", () => s.name.set("ééééé")],
    ["object with one bad field", () => s.user.set({ id: 5, tag: "toolong" })],
    ["array with a bad element", () => s.xs.set([1, 2, 3.5])],
    ["array of the wrong length", () => s.xs.set([1, 2])],
  ];
  for (const [what, run] of bad) {
    expect(run, what).toThrow(ZodError);
  }
  expect(s.snapshot()).toEqual(before);
}, 60_000);

test("add never wraps: a result out of range throws a ZodError and changes nothing", () => {
  const s = defineState(schema, { file: fresh() });
  s.hits.set(2 ** 31 - 1);
  expect(() => s.hits.add(1)).toThrow(ZodError);
  expect(s.hits.get()).toBe(2 ** 31 - 1);
  expect(() => s.count.add(-1)).toThrow(ZodError);
  expect(s.count.get()).toBe(0);
  expect(() => s.hits.add(0.5)).toThrow(TypeError);
}, 60_000);

test("extra checks in the schema are enforced on set and add", () => {
  const s = defineState(z.object({ stock: z.int32().min(0).max(10), code: z.string().max(6).regex(/^[a-z]*$/) }), { file: fresh() });
  s.stock.set(2);
  expect(() => s.stock.add(-3)).toThrow(ZodError);
  expect(() => s.stock.set(11)).toThrow(ZodError);
  expect(s.stock.add(8)).toBe(10);
  expect(() => s.code.set("ABC")).toThrow(ZodError);
  s.code.set("abc");
  expect(s.code.get()).toBe("abc");
}, 60_000);

test("update: mutate the draft or return a new object; validated as a whole", () => {
  const s = defineState(schema, { file: fresh() });
  const out = s.update((d) => {
    d.hits += 2;
    d.name = "two";
    d.user.tag = "t";
    d.xs[1] = 7;
  });
  expect(out.hits).toBe(2);
  expect(s.snapshot()).toMatchObject({ hits: 2, name: "two", user: { id: 0, tag: "t" }, xs: [0, 7, 0] });
  s.update((d) => ({ ...d, mode: "busy" as const, on: true }));
  expect(s.mode.get()).toBe("busy");
  const before = s.snapshot();
  expect(() =>
    s.update((d) => {
      d.hits = 100;
      d.name = "much too long";
    }),
  ).toThrow(ZodError);
  expect(s.snapshot()).toEqual(before);
}, 60_000);

test("update refuses an async fn and set() inside fn, writing nothing", () => {
  const s = defineState(schema, { file: fresh() });
  expect(() =>
    s.update(((d: { hits: number }) => {
      d.hits = 5;
      return Promise.resolve(d);
    }) as never),
  ).toThrow("must be synchronous");
  expect(() => s.update(() => s.name.set("x"))).toThrow("inside update(fn)");
  expect(s.snapshot().hits).toBe(0);
  expect(s.name.get()).toBe("");
  s.hits.add(1); // the lock was released
  expect(s.update((d) => d).hits).toBe(1);
}, 60_000);

test("update writes integers as a difference: a lock-free add during fn is merged, not lost", () => {
  const s = defineState(schema, { file: fresh() });
  s.update((d) => {
    s.hits.add(10); // another process could do this at any moment
    d.hits += 1;
  });
  expect(s.hits.get()).toBe(11);
}, 60_000);

test("snapshot is a plain copy; two definitions of one file share the memory", () => {
  const file = fresh();
  const a = defineState(schema, { file });
  const b = defineState(z.object({ hits: z.int32() }), { file });
  const snap = a.snapshot();
  snap.hits = 99;
  expect(a.hits.get()).toBe(0);
  b.hits.add(3);
  expect(a.hits.get()).toBe(3);
  syncAllStates();
  expect(a.info.layout().map((e) => e.path)).toContain("user.tag");
}, 60_000);

test("types are inferred from the schema (checked by tsc)", () => {
  const s = defineState(schema, { file: fresh() });
  const hits: number = s.hits.add(1);
  const total: bigint = s.total.add(1n);
  const name: string = s.name.get();
  const mode: "idle" | "busy" = s.mode.get();
  const tag: string = s.user.tag.get();
  const xs: number[] = s.xs.get();
  const first: number = s.xs.at(0).add(1);
  const snap: { user: { id: number } } = s.snapshot();
  expect(() =>
    s.update((d) => {
      d.hits = 2;
      // @ts-expect-error: not one of the enum's values
      d.mode = "gone";
    }),
  ).toThrow(ZodError);
  // @ts-expect-error: strings have no add()
  expect(() => s.name.add(1)).toThrow();
  // @ts-expect-error: an int32 field takes numbers
  expect(() => s.hits.set("1")).toThrow(ZodError);
  expect([hits, total, name, mode, tag, xs, first, snap.user.id]).toEqual([1, 1n, "", "idle", "", [0, 0, 0], 1, 0]);
}, 60_000);
