import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SysError } from "./errno.ts";
import { MappingGuard, guardAvailable } from "./sigbus.ts";
import {
  allocateFile,
  futexWait,
  futexWake,
  getResourceLimit,
  lockMemory,
  mapShared,
  remapShared,
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

test("allocateFile grows a file with real blocks (no holes); a bad fd is a SysError naming posix_fallocate", () => {
  const file = path.join(dir, "alloc.bin");
  const fd = fs.openSync(file, "w+");
  try {
    allocateFile(fd, 0, 64 * 1024);
    const st = fs.fstatSync(fd);
    expect(st.size).toBe(64 * 1024);
    expect(st.blocks * 512).toBeGreaterThanOrEqual(64 * 1024);
    allocateFile(fd, 0, 4096); // never shrinks
    expect(fs.fstatSync(fd).size).toBe(64 * 1024);
  } finally {
    fs.closeSync(fd);
  }
  expect(() => allocateFile(987654, 0, 4096)).toThrow(/^posix_fallocate: EBADF/);
});

test("remapShared moves a mapping onto another file at the same address: old views show the new file", () => {
  const fa = fs.openSync(path.join(dir, "ra.bin"), "w+");
  const fb = fs.openSync(path.join(dir, "rb.bin"), "w+");
  try {
    truncate(fa, 4096);
    truncate(fb, 4096);
    const m = mapShared(fa, 4096);
    const view = new Int32Array(m.buffer);
    view[1] = 111;
    fs.writeSync(fb, new Int32Array([0, 222]), 0, 8, 0);
    remapShared(m, fb);
    expect(view[1]).toBe(222);
    view[2] = 333;
    const back = new Int32Array(3);
    fs.readSync(fb, back, 0, 12, 0);
    expect(back[2]).toBe(333);
    const a = new Int32Array(2);
    fs.readSync(fa, a, 0, 8, 0);
    expect(a[1]).toBe(111); // the first file keeps what it had
    unmap(m);
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
});

test("MappingGuard: a page lost to a truncation is given back with the shadow's bytes instead of a SIGBUS", () => {
  const available = guardAvailable();
  expect(available).toEqual({ ok: true }); // bun:ffi cc works wherever these tests run
  const file = path.join(dir, "guarded.bin");
  const fd = fs.openSync(file, "w+");
  try {
    allocateFile(fd, 0, 3 * 4096);
    const m = mapShared(fd, 16 * 4096);
    const g = MappingGuard.add(m.address, m.length, fd, 3 * 4096)!;
    const u = new Int32Array(m.buffer);
    u[1] = 1;
    u[2048] = 42; // on the third page
    g.refreshShadow(3 * 4096, (into) => into.set(new Uint8Array(m.buffer, 0, 3 * 4096)));
    u[2048] = 43; // after the shadow: lost with the page
    fs.truncateSync(file, 100);
    expect(u[2048]).toBe(42); // the touch faulted, was repaired, and read the shadow's value
    expect(u[1]).toBe(1); // before the cut: untouched
    expect(fs.fstatSync(fd).size).toBe(3 * 4096);
    expect(g.repairs()).toEqual({ count: 1, cutAt: 100 });
    // A truncation nobody touched yet is repaired by check().
    fs.truncateSync(file, 0);
    expect(g.check()).toBe("repaired");
    expect(g.repairs()).toEqual({ count: 2, cutAt: 0 });
    expect(fs.fstatSync(fd).size).toBe(3 * 4096);
    expect(u[1]).toBe(1);
    expect(g.check()).toBe("intact");
    g.remove();
    unmap(m);
  } finally {
    fs.closeSync(fd);
  }
});
