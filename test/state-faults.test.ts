// A state file's bad days, with real processes: truncated under a live mapping (no SIGBUS
// crash, the values come back), deleted while in use (re-linked from the live mapping),
// replaced while in use (refused loudly, the live values kept), and a full filesystem when the
// schema grows (a clear ENOSPC, nothing changed).
import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { defineState } from "../src/state/index.ts";
import { counterSchema } from "./state-child.ts";
import { Sandbox, type Child } from "./state-support.ts";

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

/** Waits (bounded) until `check` holds; the check is an observable event, polled. */
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await Bun.sleep(20);
  }
}

async function counterChild(file: string, env: Record<string, string> = {}): Promise<Child> {
  const c = box.spawn("commands", file, "0", [], { stdin: true, env });
  await c.line("ready", 20_000);
  return c;
}

async function ask(c: Child, cmd: string, answer: string): Promise<void> {
  c.send(cmd);
  await c.line(answer, 20_000);
}

test("truncated to 100 bytes under a live mapping: the next add does not crash, the file and the count come back", async () => {
  const file = box.file();
  const c = await counterChild(file);
  await ask(c, "add 41", "hits=41");
  await ask(c, "sync", "synced"); // the shadow copy is taken at every sync (and every second)
  const size = fs.statSync(file).size;
  fs.truncateSync(file, 100);
  // The counter's page is gone from the file: this add touches it (SIGBUS without the guard).
  await ask(c, "add 1", "hits=42");
  expect(fs.statSync(file).size).toBe(size);
  // A fresh process reads the same value from the file.
  const reader = box.spawn("define", file, "counterSchema");
  expect(await reader.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 42 })}`);
  c.send("exit");
  expect(await c.exited).toBe(0);
  expect(await c.stderr()).toContain(`the state file ${file} was truncated to 100 bytes while in use`);
}, 60_000);

test("truncated to 0 while nothing touches it: the periodic check restores it before anyone does", async () => {
  const file = box.file();
  const c = await counterChild(file);
  await ask(c, "add 7", "hits=7");
  await ask(c, "sync", "synced");
  const size = fs.statSync(file).size;
  fs.truncateSync(file, 0);
  await until("the file to get its size back", () => fs.statSync(file).size === size);
  const reader = box.spawn("define", file, "counterSchema");
  expect(await reader.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 7 })}`);
  await ask(c, "add 1", "hits=8");
  c.send("exit");
  expect(await c.exited).toBe(0);
}, 60_000);

test("deleted while in use: the file is re-linked from the live mapping, and later writes reach it", async () => {
  const file = box.file();
  const c = await counterChild(file);
  await ask(c, "add 4", "hits=4");
  const before = fs.statSync(file).ino;
  fs.unlinkSync(file);
  await until("the file to be re-linked", () => fs.existsSync(file));
  expect(fs.statSync(file).ino).not.toBe(before);
  // The child now maps the re-linked file: its next write shows in a new process's view.
  const s = defineState(counterSchema, { file });
  expect(s.hits.get()).toBe(4);
  await ask(c, "add 1", "hits=5");
  expect(s.hits.get()).toBe(5);
  s.hits.add(1);
  await ask(c, "get", "hits=6");
  c.send("exit");
  expect(await c.exited).toBe(0);
  expect(await c.stderr()).toContain(`the state file ${file} was deleted while in use: restored it`);
}, 60_000);

test("replaced while in use: the serving process keeps its values and says the new file is not used", async () => {
  const file = box.file();
  const c = await counterChild(file);
  await ask(c, "add 4", "hits=4");
  const other = box.file("other.bin");
  const o = box.spawn("define", other, "counterSchema");
  await o.line("ok", 20_000);
  fs.renameSync(other, file);
  await ask(c, "add 1", "hits=5");
  // Wait for the loud message (the check runs every second), then the live values are intact.
  await ask(c, "sync", "synced");
  c.send("exit");
  expect(await c.exited).toBe(0);
  expect(await c.stderr()).toContain(`the state file ${file} was replaced while in use`);
  // The file at the path is the new one (hits 0): never overwritten by the serving process.
  const reader = box.spawn("define", file, "counterSchema");
  expect(await reader.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 0 })}`);
}, 60_000);

test("under a supervisor, a generation does not boot on a deleted file while a sibling serves from it; it waits for the restore", async () => {
  // Both children of this test process: siblings, as two generations of one supervisor are.
  const file = box.file();
  const env = { LIVEFRAME_SUPERVISOR_PID: String(process.pid) };
  const c = await counterChild(file, env);
  await ask(c, "add 4", "hits=4");
  fs.unlinkSync(file);
  // Started at once: the file is missing; without the check it would start from 0.
  const next = box.spawn("define", file, "counterSchema", [], { env });
  expect(await next.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 4 })}`);
  c.send("exit");
  expect(await c.exited).toBe(0);
}, 60_000);

test("under a supervisor, a generation refuses to boot on a file that replaced the one a sibling serves from", async () => {
  const file = box.file();
  const env = { LIVEFRAME_SUPERVISOR_PID: String(process.pid) };
  const c = await counterChild(file, env);
  await ask(c, "add 4", "hits=4");
  const other = box.file("other.bin");
  const o = box.spawn("define", other, "counterSchema");
  await o.line("ok", 20_000);
  fs.renameSync(other, file);
  const next = box.spawn("define", file, "counterSchema", [], { env });
  const line = await next.line("error", 30_000);
  expect(line).toContain(`generation pid ${c.proc.pid} serves from another file at this path`);
  expect(line).toContain("move the new file away");
  expect(await next.exited).toBe(3);
  c.send("exit");
  expect(await c.exited).toBe(0);
}, 60_000);

test("a file truncated while nobody had it open is refused at boot, saying it was truncated (never started empty)", async () => {
  const file = box.file();
  const c = await counterChild(file);
  await ask(c, "add 9", "hits=9");
  c.send("exit");
  expect(await c.exited).toBe(0);
  fs.truncateSync(file, 4096 + 8); // the header survives, the values do not
  const next = box.spawn("define", file, "counterSchema");
  const line = await next.line("error", 20_000);
  expect(line).toContain(`state file ${file}: it is 4104 bytes, shorter than the`);
  expect(line).toContain("it was truncated");
  expect(await next.exited).toBe(3);
}, 60_000);

// ── a full filesystem ─────────────────────────────────────────────────────────────────────

/** A 64 KiB tmpfs mounted in the sandbox, or why not (not root, no mount permission). */
function tinyFilesystem(): { dir: string; unmount: () => void } | string {
  if (process.getuid?.() !== 0) return "not root";
  const dir = path.join(box.dir, "tiny");
  fs.mkdirSync(dir);
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir]);
  if (r.exitCode !== 0) return `mount -t tmpfs failed: ${r.stderr.toString().trim()}`;
  return { dir, unmount: () => void Bun.spawnSync(["umount", "-l", dir]) };
}
const probe = (() => {
  if (process.getuid?.() !== 0) return "not root";
  const dir = fs.mkdtempSync("/tmp/liveframe-mount-probe-");
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", dir]);
  if (r.exitCode === 0) Bun.spawnSync(["umount", dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  return r.exitCode === 0 ? "" : `mount -t tmpfs is not permitted: ${r.stderr.toString().trim()}`;
})();

/** Fills the filesystem of `dir` with one file until it is full. */
function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, "filler"), "w");
  const chunk = new Uint8Array(4096).fill(1);
  try {
    for (let i = 0; i < 1024; i++) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOSPC") throw e;
  } finally {
    fs.closeSync(fd);
  }
}

test.skipIf(probe !== "")(
  `a schema that grows on a full filesystem fails with ENOSPC, changes nothing, and the serving process goes on${probe ? ` (skipped: ${probe})` : ""}`,
  async () => {
    const tiny = tinyFilesystem();
    if (typeof tiny === "string") throw new Error(tiny);
    try {
      const file = path.join(tiny.dir, "state.bin");
      const holder = await counterChild(file);
      await ask(holder, "add 3", "hits=3");
      fill(tiny.dir);
      // bigSchema appends a 16 KiB field: the file needs blocks the filesystem no longer has.
      const grow = box.spawn("define", file, "bigSchema");
      const line = await grow.line("error", 20_000);
      expect(line).toContain(`state file ${file}: cannot allocate`);
      expect(line).toContain("the filesystem is full (ENOSPC)");
      expect(await grow.exited).toBe(3);
      // The serving process still works on every page it had, and syncs.
      await ask(holder, "add 1", "hits=4");
      await ask(holder, "sync", "synced");
      // With space again, the same schema grows the file and keeps the values.
      fs.rmSync(path.join(tiny.dir, "filler"));
      const again = box.spawn("define", file, "bigSchema");
      expect(await again.line("ok", 20_000)).toBe(`ok ${JSON.stringify({ hits: 4, blob: "" })}`);
      await ask(holder, "add 1", "hits=5");
      holder.send("exit");
      expect(await holder.exited).toBe(0);
    } finally {
      tiny.unmount();
    }
  },
  60_000,
);
