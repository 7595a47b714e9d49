// Schema evolution and files that are not ours: append, ignore, refuse; never overwrite.
import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import { z } from "zod";
import { defineState, RegionRefusedError } from "../src/state/index.ts";
import { changedSchema, v1Schema, v2Schema } from "./state-child.ts";
import { Sandbox } from "./state-support.ts";

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

const offsets = (layout: { path: string; offset: number }[]) => Object.fromEntries(layout.map((e) => [e.path, e.offset]));

test("appending fields keeps every value and the offsets of the shared fields", () => {
  const file = box.file();
  const v1 = defineState(v1Schema, { file });
  v1.hits.set(41);
  v1.name.set("kept");
  const before = offsets(v1.info.layout());
  const sizeBefore = v1.info.size;
  const v2 = defineState(v2Schema, { file });
  expect(v2.snapshot()).toEqual({ hits: 41, name: "kept", extra: 0, note: "" });
  const after = offsets(v2.info.layout());
  expect(after.hits).toBe(before.hits!);
  expect(after.name).toBe(before.name!);
  expect(after.extra!).toBeGreaterThanOrEqual(sizeBefore);
  expect(fs.statSync(file).size).toBeGreaterThan(sizeBefore);
  // The old view still works on the same memory.
  v1.hits.add(1);
  expect(v2.hits.get()).toBe(42);
}, 60_000);

test("a removed field is ignored and its value survives for a schema that has it again", async () => {
  const file = box.file();
  const v2 = defineState(v2Schema, { file });
  v2.update(() => ({ hits: 1, name: "n", extra: 77, note: "remember me" }));
  const child = box.spawn("define", file, "v1Schema"); // a generation with the field removed
  expect(await child.line("ok")).toBe(`ok ${JSON.stringify({ hits: 1, name: "n" })}`);
  expect(await child.exited).toBe(0);
  const again = box.spawn("define", file, "v2Schema");
  expect(await again.line("ok")).toBe(`ok ${JSON.stringify({ hits: 1, name: "n", extra: 77, note: "remember me" })}`);
}, 60_000);

test("a changed field type is refused naming the field, the file is left as it was", async () => {
  const file = box.file();
  const v1 = defineState(v1Schema, { file });
  v1.hits.set(5);
  v1.sync();
  const bytes = fs.readFileSync(file);
  const child = box.spawn("define", file, "changedSchema");
  const line = await child.line("error");
  expect(line).toContain('state field "hits" changed type from int32 to string(8)');
  expect(await child.exited).toBe(3);
  expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  expect(() => defineState(changedSchema, { file })).toThrow('state field "hits" changed type from int32 to string(8)');
  expect(v1.hits.get()).toBe(5);
}, 60_000);

test("a leaf that became an object (and back) is a changed type", () => {
  const file = box.file();
  defineState(z.object({ user: z.int32() }), { file });
  expect(() => defineState(z.object({ user: z.object({ id: z.int32() }) }), { file })).toThrow(
    'state field "user" changed type from int32 to object',
  );
  const other = box.file("other.bin");
  defineState(z.object({ user: z.object({ id: z.int32() }) }), { file: other });
  expect(() => defineState(z.object({ user: z.int32() }), { file: other })).toThrow(
    'state field "user" changed type from object to int32',
  );
}, 60_000);

test("enum values, string capacity and array length are part of the type", () => {
  const file = box.file();
  defineState(z.object({ e: z.enum(["a", "b"]), s: z.string().max(4), xs: z.array(z.int32()).length(2) }), { file });
  expect(() => defineState(z.object({ e: z.enum(["a", "c"]) }), { file })).toThrow('state field "e" changed type');
  expect(() => defineState(z.object({ s: z.string().max(5) }), { file })).toThrow('state field "s" changed type from string(4) to string(5)');
  expect(() => defineState(z.object({ xs: z.array(z.int32()).length(3) }), { file })).toThrow('state field "xs" changed type');
}, 60_000);

test("two processes with different compatible schemas work on one file at once", async () => {
  const file = box.file();
  const old = box.spawn("v1-add", file, "30000");
  await old.line("half");
  const young = box.spawn("v2-add", file, "30000"); // appends `extra` and `note` while `old` runs
  await young.line("ready");
  expect(await old.line("grown")).toBe("grown"); // `old` went on after the file grew under it
  const [a, b] = await Promise.all([old.exited, young.exited]);
  expect([a, b]).toEqual([0, 0]);
  const s = defineState(v2Schema, { file });
  expect(s.hits.get()).toBe(60000);
  expect(s.extra.get()).toBe(30000);
  expect(s.name.get()).toMatch(/^v1-\d+$/);
  expect(s.note.get()).toMatch(/^v2-\d+$/);
}, 60_000);

function expectRefused(file: string, message: string): void {
  const bytes = fs.readFileSync(file);
  let err: unknown;
  try {
    defineState(v1Schema, { file });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RegionRefusedError);
  expect((err as Error).message).toContain(message);
  expect((err as Error).message).toContain("refusing to use or overwrite it");
  expect(fs.readFileSync(file).equals(bytes)).toBe(true);
}

test("a file that is not a liveframe region is refused and left untouched", () => {
  const text = box.file("notes.bin");
  fs.writeFileSync(text, "my precious notes\n".repeat(400));
  expectRefused(text, "it is not a liveframe state region");
  const empty = box.file("empty.bin");
  fs.writeFileSync(empty, "");
  expectRefused(empty, "it is not a liveframe state region");
}, 60_000);

test("a region of an unknown format version is refused and left untouched", () => {
  const file = box.file();
  defineState(v1Schema, { file }).hits.set(3);
  const fd = fs.openSync(file, "r+");
  fs.writeSync(fd, new Uint8Array(new Uint32Array([99]).buffer), 0, 4, 8); // version word
  fs.closeSync(fd);
  const other = box.file("copy.bin");
  fs.copyFileSync(file, other); // a file this process has not opened yet
  expectRefused(other, "it has state format version 99, this liveframe reads version 2");
}, 60_000);

test("a corrupt header or layout directory is refused and left untouched", () => {
  const file = box.file();
  defineState(v1Schema, { file }).name.set("x");
  const dirOffset = new Uint32Array(fs.readFileSync(file).buffer.slice(0, 32))[6]!;
  const bad = box.file("bad-dir.bin");
  fs.copyFileSync(file, bad);
  const fd = fs.openSync(bad, "r+");
  fs.writeSync(fd, "{{{{garbage", dirOffset);
  fs.closeSync(fd);
  expectRefused(bad, "its layout directory is not valid JSON (corrupt)");

  const short = box.file("truncated.bin");
  fs.writeFileSync(short, fs.readFileSync(file).subarray(0, 4200));
  expectRefused(short, "it is 4200 bytes, shorter than the");
}, 60_000);

test("a version 1 region is upgraded in place when it has no 64-bit integers, refused otherwise", () => {
  const setVersion = (file: string, v: number) => {
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, new Uint8Array(new Uint32Array([v]).buffer), 0, 4, 8);
    fs.closeSync(fd);
  };
  const narrow = box.file("narrow.bin");
  const source = box.file("narrow-source.bin");
  defineState(v1Schema, { file: source }).hits.set(9);
  fs.copyFileSync(source, narrow); // not yet open in this process
  setVersion(narrow, 1);
  expect(defineState(v1Schema, { file: narrow }).hits.get()).toBe(9);
  expect(new Uint32Array(fs.readFileSync(narrow).buffer.slice(0, 12))[2]).toBe(2);

  const wideSource = box.file("wide-source.bin");
  defineState(z.object({ n: z.int64() }), { file: wideSource }).n.set(5n);
  const wide = box.file("wide.bin");
  fs.copyFileSync(wideSource, wide);
  setVersion(wide, 1);
  expectRefused(wide, 'format version 1 with a 64-bit integer field ("n")');
}, 60_000);
