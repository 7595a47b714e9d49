// The path checks without a server: a symlink on the way is judged by where it leads.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secureRuntimeDir } from "./runtime-dir.ts";

const base = mkdtempSync(join(tmpdir(), "lf-rundir-unit-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

test("a parent reached through a symlink is checked where it leads: a world-writable, non-sticky target is refused and nothing is made there", () => {
  const open = join(base, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  symlinkSync(open, join(base, "via"));
  const rt = join(base, "via", "rt");
  expect(() => secureRuntimeDir(rt)).toThrow(
    `runtime dir ${rt} is inside ${open} (${join(base, "via")} resolves to it), which group and others may write (mode 0777, not sticky)`,
  );
  expect(existsSync(join(open, "rt"))).toBe(false);
});

test("missing parents are made 0700 and the dir's identity is returned; a second call finds the same dir", () => {
  const rt = join(base, "a", "b", "rt");
  const id = secureRuntimeDir(rt);
  expect(secureRuntimeDir(rt)).toEqual(id);
  for (const d of [join(base, "a"), join(base, "a", "b"), rt]) expect(lstatSync(d).mode & 0o7777).toBe(0o700);
});
