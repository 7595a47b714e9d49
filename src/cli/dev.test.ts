import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { uncolored } from "./color.ts";
import type { CliContext } from "./command.ts";
import { DevReloader, watchRoot } from "./dev.ts";
import type { ReloadOutcome, StatusReport, Supervisor } from "./supervisor-link.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-devunit-"));
  dirs.push(d);
  return d;
}

function context(cwd: string, lines: string[]): CliContext {
  return {
    cwd,
    env: {},
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    color: uncolored,
    errColor: uncolored,
    stdinIsTTY: false,
  };
}

/** A supervisor whose reloads finish when the test says so (the reload logic is what is tested here). */
function slowSupervisor() {
  const calls: string[] = [];
  const pending: ((o: ReloadOutcome) => void)[] = [];
  let generation = 1;
  const sup: Supervisor = {
    reload: (o) => {
      calls.push(o?.reason ?? "");
      return new Promise((resolve) => pending.push(resolve));
    },
    status: () => ({ generation }) as StatusReport,
    stop: async () => {},
    exited: new Promise(() => {}),
  };
  const finish = () => {
    const from = generation++;
    pending.shift()!({ ok: true, from, to: generation, pid: 1, totalMs: 5, connectionsMoved: 1, requestsDrained: 0 });
  };
  return { sup, calls, finish, pending };
}

test("watchRoot: the project with a package.json, else the entry's directory; the demo alone", () => {
  const root = tempDir();
  mkdirSync(join(root, "proj", "src", "routes"), { recursive: true });
  writeFileSync(join(root, "proj", "package.json"), "{}");
  mkdirSync(join(root, "loose"));
  expect(watchRoot(join(root, "proj", "src", "routes", "app.ts"), false)).toBe(join(root, "proj"));
  expect(watchRoot(join(root, "proj", "src", "routes", "app.ts"), true)).toBe(join(root, "proj", "src", "routes"));
  expect(watchRoot(join(root, "loose", "app.ts"), false)).toBe(join(root, "loose"));
});

test("saves during a reload are merged into exactly one more reload", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "a.ts"), "export const a = 1;\n");
  writeFileSync(join(cwd, "b.ts"), "export const b = 1;\n");
  const lines: string[] = [];
  const { sup, calls, finish, pending } = slowSupervisor();
  const r = new DevReloader(sup, context(cwd, lines), cwd, 1000);
  r.request(["a.ts"]);
  await Bun.sleep(5);
  r.request(["a.ts"]);
  r.request(["b.ts"]);
  r.request(["a.ts"]);
  expect(calls).toEqual(["a.ts changed"]);
  finish();
  for (let i = 0; i < 50 && pending.length === 0; i++) await Bun.sleep(2);
  expect(calls).toEqual(["a.ts changed", "a.ts and 1 more changed"]);
  finish();
  await Bun.sleep(5);
  expect(calls).toHaveLength(2);
  expect(lines.filter((l) => l.startsWith("↻"))).toHaveLength(2);
  expect(lines[0]).toContain("generation 2 (a.ts changed)");
});

test("a syntax error in a saved file is reported with file:line and no reload is attempted", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "app.ts"), "export default {\n  fetch() {\n};\n");
  const lines: string[] = [];
  const { sup, calls } = slowSupervisor();
  new DevReloader(sup, context(cwd, lines), cwd, 1000).request(["app.ts"]);
  await Bun.sleep(20);
  expect(calls).toEqual([]);
  expect(lines[0]).toBe("✗ app.ts: syntax error, still serving generation 1");
  expect(lines[1]).toMatch(/^app\.ts:\d+:\d+: /);
});

test("a save during someone else's reload (liveframe reload, SIGHUP) follows it instead of failing", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "a.ts"), "export const a = 1;\n");
  const lines: string[] = [];
  let refusals = 1;
  const calls: number[] = [];
  const sup: Supervisor = {
    reload: async () => {
      calls.push(Date.now());
      if (refusals-- > 0) {
        return { ok: false, from: 3, totalMs: 0, connectionsMoved: 0, requestsDrained: 0, error: "a reload is already in progress (generation 3 → 4)" };
      }
      return { ok: true, from: 4, to: 5, pid: 9, totalMs: 5, connectionsMoved: 0, requestsDrained: 0 };
    },
    status: () => ({ generation: 4 }) as StatusReport,
    stop: async () => {},
    exited: new Promise(() => {}),
  };
  new DevReloader(sup, context(cwd, lines), cwd, 1000).request(["a.ts"]);
  for (let i = 0; i < 100 && calls.length < 2; i++) await Bun.sleep(10);
  await Bun.sleep(10);
  expect(calls).toHaveLength(2);
  expect(lines.some((l) => l.includes("failed"))).toBe(false);
  expect(lines).toEqual([expect.stringContaining("generation 5 (a.ts changed)")]);
});
