// State shared by real processes: exact counts, untorn multi-field updates, dead lock holders.
import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import { defineState } from "../src/state/index.ts";
import { W_LOCK_START } from "../src/state/header.ts";
import { counterSchema, pairConsistent, pairSchema, v1Schema } from "./state-child.ts";
import { Sandbox } from "./state-support.ts";

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

test("4 processes × 20000 add(1) on one counter give exactly 80000", async () => {
  const file = box.file();
  const kids = Array.from({ length: 4 }, () => box.spawn("add", file, "20000"));
  const codes = await Promise.all(kids.map((k) => k.exited));
  expect(codes).toEqual([0, 0, 0, 0]);
  expect(defineState(counterSchema, { file }).hits.get()).toBe(80000);
}, 60_000);

test("multi-field updates from 2 writer processes are never seen torn by 2 reader processes", async () => {
  const file = box.file();
  const writers = [box.spawn("pair-writer", file, "4000"), box.spawn("pair-writer", file, "4000")];
  const readers = [box.spawn("pair-reader", file, "20000"), box.spawn("pair-reader", file, "20000")];
  // This process writes and reads too.
  const s = defineState(pairSchema, { file });
  for (let i = 1; i <= 500; i++) {
    s.update((d) => ({ a: -i, b: i, s: `v${-i}`, f: -i / 2, big: BigInt(-i) * 3n }));
    expect(pairConsistent(s.snapshot())).toBe(true);
  }
  const outs = await Promise.all(readers.map((r) => r.line("done")));
  expect(outs).toEqual(["done torn=0", "done torn=0"]);
  expect(await Promise.all([...writers, ...readers].map((k) => k.exited))).toEqual([0, 0, 0, 0]);
  expect(pairConsistent(s.snapshot())).toBe(true);
}, 60_000);

test("a lock holder killed with kill -9 mid-lock: the lock is recovered and its change never lands", async () => {
  const file = box.file();
  const s = defineState(pairSchema, { file });
  s.update(() => ({ a: 7, b: -7, s: "v7", f: 3.5, big: 21n }));
  const holder = box.spawn("hold-lock", file);
  await holder.line("locked");
  holder.proc.kill(9);
  expect(await holder.exited).not.toBe(0);
  // update() waits on the dead holder's lock, finds its pid gone and takes over.
  const after = s.update((d) => {
    d.a += 1;
    d.b = -d.a;
    d.s = `v${d.a}`;
    d.f = d.a / 2;
    d.big = BigInt(d.a) * 3n;
  });
  expect(after).toEqual({ a: 8, b: -8, s: "v8", f: 4, big: 24n });
  expect(s.snapshot()).toEqual(after);
}, 60_000);

test("a writer killed with kill -9 half-way through a write is rolled back by the next reader", async () => {
  const file = box.file();
  const s = defineState(pairSchema, { file });
  s.update(() => ({ a: 5, b: -5, s: "v5", f: 2.5, big: 15n }));
  const writer = box.spawn("die-mid-write", file);
  await writer.line("mid-write");
  writer.proc.kill(9);
  await writer.exited;
  // The half-written state is in the file right now (seq odd, integers changed, string
  // torn). A lock-free add still works meanwhile and must survive the roll-back.
  expect(s.a.add(1)).toBe(5 + 12345 + 1);
  // A reader must not see the torn state: it waits, finds the writer dead, rolls back.
  expect(s.s.get()).toBe("v5"); // the string view's own read path
  expect(s.snapshot()).toEqual({ a: 6, b: -5, s: "v5", f: 2.5, big: 15n });
  s.a.add(1);
  expect(s.snapshot().a).toBe(7);
}, 60_000);

test("a writer killed with kill -9 at a random moment of a busy update loop leaves a consistent state", async () => {
  const file = box.file();
  const s = defineState(pairSchema, { file });
  for (let round = 0; round < 8; round++) {
    const w = box.spawn("pair-writer-forever", file);
    await w.line("ready");
    await Bun.sleep(20 + round * 23);
    w.proc.kill(9);
    await w.exited;
    const p = s.snapshot();
    if (!pairConsistent(p)) console.log("INCONSISTENT", p, s.info.layout());
    expect(pairConsistent(p)).toBe(true);
    // and the region still takes writes
    s.update((d) => ({ ...d, a: d.a + 1, b: -(d.a + 1), s: `v${d.a + 1}`, f: (d.a + 1) / 2, big: BigInt(d.a + 1) * 3n }));
    expect(pairConsistent(s.snapshot())).toBe(true);
  }
}, 60_000);

test("a lock left by a process of an earlier boot (its pid now alive again) does not block the next boot", async () => {
  const file = box.file();
  const s = defineState(v1Schema, { file });
  s.hits.set(5);
  s.name.set("before reboot");
  s.sync();
  // Make the file look like it was locked mid-write before a reboot by a pid that is alive
  // now (pid 1 always is): lock owner = 1, seqlock odd, a different boot id.
  const fd = fs.openSync(file, "r+");
  const words = new Uint32Array(16);
  fs.readSync(fd, words, 0, 64, 0);
  words[8] = 1; // lock owner pid
  words[10] = (words[10]! | 1) >>> 0; // seqlock odd: a write was under way
  words[13] = 12345; // boot id hash of "the previous boot"
  fs.writeSync(fd, words, 0, 64, 0);
  fs.closeSync(fd);
  const child = box.spawn("define", file, "v1Schema");
  expect(await child.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 5, name: "before reboot" })}`);
  expect(await child.exited).toBe(0);
}, 60_000);

test("a live holder that never lets go: update fails after a bounded wait naming it, lock-free reads never wait, a reused pid counts as dead", async () => {
  const file = box.file();
  const s = defineState(pairSchema, { file });
  s.update(() => ({ a: 1, b: -1, s: "v1", f: 0.5, big: 3n }));
  // The holder sits inside update(fn) (lock taken, its write not begun) for two minutes.
  const holder = box.spawn("hold-lock", file);
  await holder.line("locked");
  // Lock-free reads and atomic adds go on as if nothing held the lock.
  expect(s.snapshot()).toEqual({ a: 1, b: -1, s: "v1", f: 0.5, big: 3n });
  expect(s.big.add(1n)).toBe(4n);
  // A write waits a bounded time, then fails naming the holder.
  const pid = holder.proc.pid;
  expect(() => s.update((d) => void (d.a = 2))).toThrow(new RegExp(`^state lock of .* held by pid ${pid} \\(started .*\\) was not released within \\d+\\.\\d s: .*kill ${pid}`));
  // The next attempt on the same stuck holder gives up after one short slice.
  expect(() => s.s.set("v2")).toThrow(new RegExp(`held by pid ${pid} .*is still not released`));
  expect(s.snapshot().a).toBe(1);
  // The same pid with another start time is a process that reused the pid: the lock is free.
  const fd = fs.openSync(file, "r+");
  const word = new Uint32Array(1);
  fs.readSync(fd, word, 0, 4, W_LOCK_START * 4);
  expect(word[0]).toBeGreaterThan(0);
  word[0] = (word[0]! + 1) >>> 0;
  fs.writeSync(fd, word, 0, 4, W_LOCK_START * 4);
  fs.closeSync(fd);
  expect(s.update((d) => ({ ...d, a: 2, b: -2, s: "v2", f: 1, big: 6n }))).toEqual({ a: 2, b: -2, s: "v2", f: 1, big: 6n });
  holder.proc.kill(9);
  await holder.exited;
}, 60_000);
