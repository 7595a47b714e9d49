import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mapShared, truncate } from "../../ffi/index.ts";
import { W_LOCK, W_LOCK_START, W_SEQ } from "./header.ts";
import { holderAlive, mapsInode, processStart } from "./holder.ts";
import { processAlive, RegionLock } from "./lock.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liveframe-lock-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function lockOnFile(onTakenOver: (pid: number) => void = () => {}) {
  const fd = fs.openSync(path.join(dir, `l${Math.random()}.bin`), "w+");
  truncate(fd, 4096);
  const m = mapShared(fd, 4096);
  const ino = fs.fstatSync(fd).ino;
  fs.closeSync(fd); // the mapping keeps the file
  const words = new Int32Array(m.buffer);
  return { words, ino, lock: new RegionLock(words, m, "test.bin", onTakenOver, () => ino, 300) };
}

test("processAlive: this process yes, an exited (even unreaped) child no", () => {
  expect(processAlive(process.pid)).toBe(true);
  const c = Bun.spawn(["sleep", "30"]);
  expect(processAlive(c.pid)).toBe(true);
  process.kill(c.pid, 9);
  const until = Date.now() + 200;
  while (Date.now() < until) {} // stay synchronous: the child is a zombie until reaped
  expect(processAlive(c.pid)).toBe(false);
});

test("acquire stores our pid, release clears it; acquiring twice is a clear error", () => {
  const { words, lock } = lockOnFile();
  lock.acquire();
  expect(Atomics.load(words, W_LOCK)).toBe(process.pid);
  expect(() => lock.acquire()).toThrow("inside update(fn)");
  lock.release();
  expect(Atomics.load(words, W_LOCK)).toBe(0);
});

test("a lock held by a dead pid is taken over and the region repaired", () => {
  const taken: number[] = [];
  const { words, lock } = lockOnFile((pid) => {
    taken.push(pid);
    Atomics.add(words, W_SEQ, 1); // what recover() does to an odd seqlock
  });
  const c = Bun.spawnSync(["true"]);
  Atomics.store(words, W_LOCK, c.pid); // exited and reaped
  Atomics.store(words, W_SEQ, 1);
  lock.acquire();
  expect(taken).toEqual([c.pid]);
  expect(Atomics.load(words, W_SEQ) & 1).toBe(0);
  lock.release();
});

test("a repair that fails releases the lock and throws", () => {
  const { words, lock } = lockOnFile(() => {
    throw new Error("directory corrupt");
  });
  Atomics.store(words, W_SEQ, 1); // a dead writer's leftover
  expect(() => lock.acquire()).toThrow("directory corrupt");
  expect(Atomics.load(words, W_LOCK)).toBe(0);
  expect(lock.held).toBe(false);
});

test("holder identity: start time from /proc, and whether a pid maps the file", () => {
  const { ino } = lockOnFile();
  const me = processStart(process.pid);
  expect(me).toBeGreaterThan(0);
  expect(mapsInode(process.pid, ino)).toBe(true);
  expect(holderAlive({ pid: process.pid, start: me }, ino)).toBe(true);
  // The same pid with another start time is a reused pid: not the holder.
  expect(holderAlive({ pid: process.pid, start: (me + 1) >>> 0 }, ino)).toBe(false);
  const c = Bun.spawn(["sleep", "30"]);
  try {
    expect(mapsInode(c.pid, ino)).toBe(false);
    // Alive, but it does not have the region mapped: it cannot be holding its lock.
    expect(holderAlive({ pid: c.pid, start: 0 }, ino)).toBe(false);
  } finally {
    c.kill(9);
  }
});

test("a lock word naming a live process that does not map the file is taken over at once", () => {
  const taken: number[] = [];
  const { words, lock } = lockOnFile((pid) => taken.push(pid));
  const c = Bun.spawn(["sleep", "30"]);
  try {
    Atomics.store(words, W_LOCK, c.pid);
    lock.acquire();
    expect(taken).toEqual([c.pid]);
    expect(Atomics.load(words, W_LOCK)).toBe(process.pid);
    expect(Atomics.load(words, W_LOCK_START) >>> 0).toBe(processStart(process.pid));
    lock.release();
    expect(Atomics.load(words, W_LOCK_START)).toBe(0);
  } finally {
    c.kill(9);
  }
});
