import { expect, test } from "bun:test";
import { z } from "zod";
import { allocate, describe, entryBytes, leavesOf, sizeOf } from "./layout.ts";
import { parseStateSchema } from "./schema.ts";

const root = parseStateSchema(
  z.object({
    n: z.int32(),
    big: z.int64(),
    s: z.string().max(5),
    e: z.enum(["a", "b"]),
    o: z.object({ x: z.float64(), deep: z.object({ y: z.boolean() }) }),
    xs: z.array(z.object({ p: z.uint32(), q: z.string().max(3) })).length(2),
  }),
);

test("nested objects flatten to leaf paths, arrays stay one leaf", () => {
  expect(leavesOf(root).map((l) => l.path)).toEqual(["n", "big", "s", "e", "o.x", "o.deep.y", "xs"]);
});

test("type descriptors", () => {
  expect(leavesOf(root).map((l) => describe(l.field))).toEqual([
    "int32",
    "int64",
    "string(5)",
    'enum["a","b"]',
    "float64",
    "boolean",
    'array(2,object{"p":uint32,"q":string(3)})',
  ]);
});

test("sizes: a string is a u32 length plus its bytes; array elements are 8-aligned", () => {
  const [n, big, s, , , , xs] = leavesOf(root).map((l) => sizeOf(l.field));
  expect([n, big, s]).toEqual([4, 8, 9]);
  expect(xs).toBe(2 * (8 + 8)); // {p: 4 → 8, q: 4 + 3 → 8}
});

test("entries are 8-aligned, never overlap, and each is followed by its journal", () => {
  const { entries, end } = allocate(leavesOf(root), 4100);
  expect(entries[0]!.offset).toBe(4104);
  let at = 4104;
  for (const e of entries) {
    expect(e.offset % 8).toBe(0);
    expect(e.offset).toBe(at);
    expect(e.journal).toBe(e.offset + ((e.size + 7) & ~7));
    at += entryBytes(e.size, e.type);
  }
  expect(end).toBe(at);
  // integers journal an 8-byte delta, everything else a copy of its bytes
  expect(entryBytes(4, "int32")).toBe(8 + 8 + 8);
  expect(entryBytes(8, "int64")).toBe(8 + 8 + 16); // 64-bit: delta and old value
  expect(entryBytes(9, "string(5)")).toBe(16 + 8 + 16);
});
