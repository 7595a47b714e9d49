import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SysError } from "./errno.ts";
import {
  futexWait,
  futexWake,
  getResourceLimit,
  lockMemory,
  mapShared,
  RLIMIT_MEMLOCK,
  syncMemory,
  truncate,
  unlockMemory,
  unmap,
} from "./mmap.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liveframe-mmap-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("two MAP_SHARED mappings of one file see each other's writes, and the file gets them", () => {
  const file = path.join(dir, "a.bin");
  const fd = fs.openSync(file, "w+");
  try {
    truncate(fd, 4096);
    const a = mapShared(fd, 4096);
    const b = mapShared(fd, 4096);
    new Int32Array(a.buffer)[3] = 0x1234;
    expect(new Int32Array(b.buffer)[3]).toBe(0x1234);
    lockMemory(a, 4096);
    unlockMemory(a, 4096);
    syncMemory(a, 4096);
    expect(fs.readFileSync(file).readInt32LE(12)).toBe(0x1234);
    unmap(a);
    unmap(b);
  } finally {
    fs.closeSync(fd);
  }
});

test("failures are SysErrors naming the call", () => {
  expect(() => truncate(-1, 10)).toThrow(SysError);
  expect(() => truncate(-1, 10)).toThrow("ftruncate: EBADF");
  expect(() => mapShared(-1, 4096)).toThrow("mmap: EBADF");
  const { soft, hard } = getResourceLimit(RLIMIT_MEMLOCK);
  expect(soft <= hard).toBe(true);
});

test("futex: EAGAIN when the word differs, timeout when nobody wakes", () => {
  const fd = fs.openSync(path.join(dir, "f.bin"), "w+");
  try {
    truncate(fd, 4096);
    const m = mapShared(fd, 4096);
    expect(futexWait(m, 0, 1, 50)).toBe("changed");
    expect(futexWait(m, 0, 0, 20)).toBe("timeout");
    expect(futexWake(m, 0, 1)).toBe(0);
    unmap(m);
  } finally {
    fs.closeSync(fd);
  }
});

test("futex wakes a waiter in another process (shared futex keyed by the file)", async () => {
  const file = path.join(dir, "g.bin");
  const fd = fs.openSync(file, "w+");
  truncate(fd, 4096);
  const m = mapShared(fd, 4096);
  const script = path.join(dir, "waiter.ts");
  fs.writeFileSync(
    script,
    `import * as fs from "node:fs";
import { mapShared, futexWait } from ${JSON.stringify(path.join(import.meta.dir, "mmap.ts"))};
const m = mapShared(fs.openSync(${JSON.stringify(file)}, "r+"), 4096);
const w = new Int32Array(m.buffer);
Atomics.store(w, 1, 1); // "I am about to wait"
const t = Date.now();
const r = futexWait(m, 0, 0, 30_000);
console.log(r, Atomics.load(w, 0), Date.now() - t < 25_000);
`,
  );
  const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
  try {
    const w = new Int32Array(m.buffer);
    for (let i = 0; i < 2000 && Atomics.load(w, 1) === 0; i++) await Bun.sleep(10);
    await Bun.sleep(100); // let it reach the syscall
    Atomics.store(w, 0, 7);
    let woke = 0;
    for (let i = 0; i < 100 && woke === 0; i++) {
      woke = futexWake(m, 0, 1);
      if (woke === 0) await Bun.sleep(20);
    }
    const out = (await new Response(child.stdout).text()).trim();
    // "woken" when our wake hit it; "changed" if it got to the syscall only after our store.
    expect(["woken 7 true", "changed 7 true"]).toContain(out);
    expect(await child.exited).toBe(0);
  } finally {
    child.kill(9);
    unmap(m);
    fs.closeSync(fd);
  }
}, 60_000);
