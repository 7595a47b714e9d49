// The path checks without a server: a symlink on the way is judged by where it leads.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { groupOutsiders, secureRuntimeDir } from "./runtime-dir.ts";

const base = mkdtempSync(join(tmpdir(), "lf-rundir-unit-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

test("a parent reached through a symlink is checked where it leads: a world-writable, non-sticky target is refused and nothing is made there", () => {
  const open = join(base, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  symlinkSync(open, join(base, "via"));
  const rt = join(base, "via", "rt");
  expect(() => secureRuntimeDir(rt)).toThrow(
    `runtime dir ${rt} is inside ${open} (reached through a symlink in ${join(base, "via")}), which `,
  );
  expect(existsSync(join(open, "rt"))).toBe(false);
});

test("missing parents are made 0700 and the dir's identity is returned; a second call finds the same dir", () => {
  const rt = join(base, "a", "b", "rt");
  const id = secureRuntimeDir(rt);
  expect(secureRuntimeDir(rt)).toEqual(id);
  for (const d of [join(base, "a"), join(base, "a", "b"), rt]) expect(lstatSync(d).mode & 0o7777).toBe(0o700);
});

test.skipIf(process.getuid?.() !== 0)("a symlink on the way that another uid owns in a sticky world-writable dir (it could repoint it) is refused (skipped unless root: only root can lchown)", () => {
  const sticky = join(base, "sticky");
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  const ours = join(base, "ours");
  mkdirSync(ours, { mode: 0o755 });
  const link = join(sticky, "app");
  symlinkSync(ours, link);
  lchownSync(link, 65534, 65534);
  expect(() => secureRuntimeDir(join(link, "rt"))).toThrow(
    `runtime dir ${join(link, "rt")} is reached through the symlink ${link}, which uid 65534 owns in ${sticky} (mode 01777): that user could point it elsewhere while the server runs`,
  );
  expect(existsSync(join(ours, "rt"))).toBe(false);
  // The same link owned by root (or us) is fine: only we could repoint it.
  lchownSync(link, 0, 0);
  secureRuntimeDir(join(link, "rt"));
  expect(lstatSync(join(ours, "rt")).mode & 0o7777).toBe(0o700);
});

test.skipIf(process.getuid?.() !== 0)("group write counts only when someone else is in the group: a user-private group (umask 002) is fine and the runtime dir is tightened; a shared group is refused (skipped unless root: only root can chgrp to any group)", () => {
  const outsiders = groupOutsiders(65534);
  expect(outsiders).toContain(65534); // nogroup: nobody's primary group
  expect(groupOutsiders(0)).toEqual([]); // root's group: root only, here
  const parent = join(base, "grp");
  mkdirSync(parent);
  chmodSync(parent, 0o775);
  chownSync(parent, 0, 65534);
  const rt = join(parent, "rt");
  expect(() => secureRuntimeDir(rt)).toThrow(`runtime dir ${rt} is inside ${parent}, which its group (gid 65534, which has uid `);
  expect(existsSync(rt)).toBe(false);
  chownSync(parent, 0, 0);
  mkdirSync(rt);
  chmodSync(rt, 0o770);
  const notes: string[] = [];
  secureRuntimeDir(rt, (l) => notes.push(l));
  expect(notes).toEqual([`runtime dir ${rt} was mode 0770: made it 0700 (only its owner may enter it)`]);
  chmodSync(rt, 0o770);
  chownSync(rt, 0, 65534);
  expect(() => secureRuntimeDir(rt)).toThrow(`runtime dir ${rt} is writable by its group (gid 65534, which has uid `);
  expect(lstatSync(rt).mode & 0o7777).toBe(0o770);
});
