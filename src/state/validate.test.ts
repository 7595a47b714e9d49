import { expect, test } from "bun:test";
import { z } from "zod";
import { parseStateSchema } from "./schema.ts";
import { compileCopier, compileValidator, copyValue, fastValid, utf8Length } from "./validate.ts";

// For a plain field the fast check must give exactly zod's answer, or the hot path would
// accept what the schema refuses (or the reverse).
const cases: [string, z.ZodType, unknown[]][] = [
  ["int32", z.int32(), [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 1.5, NaN, Infinity, "1", null, 1n]],
  ["uint32", z.uint32(), [0, 1, 2 ** 32 - 1, 2 ** 32, -1, 0.5, NaN, "3"]],
  ["int64", z.int64(), [0n, -1n, 2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), -(2n ** 63n) - 1n, 1, "1"]],
  ["uint64", z.uint64(), [0n, 2n ** 64n - 1n, 2n ** 64n, -1n, 0]],
  ["float64", z.float64(), [0, -1.5, 1e308, Number.MAX_VALUE, -Number.MAX_VALUE, Infinity, -Infinity, NaN, "1"]],
  ["boolean", z.boolean(), [true, false, 0, 1, "true", null]],
  ["enum", z.enum(["a", "b"]), ["a", "b", "c", "", 0, null]],
  ["string", z.string().max(4), ["", "abcd", "abcde", "é", "éé", "ééé", "😀", "😀a", 4, null]],
  ["array", z.array(z.int32()).length(2), [[1, 2], [1], [1, 2, 3], [1, 2.5], "ab", null, { 0: 1, 1: 2, length: 2 }]],
  ["object", z.object({ a: z.int32(), s: z.string().max(2) }), [{ a: 1, s: "x" }, { a: 1 }, { a: 1, s: "xyz" }, { a: 1, s: "x", extra: 1 }, [], null]],
];

for (const [name, schema, values] of cases) {
  test(`fast check of a plain ${name} agrees with zod (and the UTF-8 byte limit) on every value`, () => {
    const field = parseStateSchema(z.object({ f: schema })).fields[0]![1];
    expect(field.plain).toBe(true);
    for (const v of values) {
      let zodOk = schema.safeParse(v).success;
      if (zodOk && field.kind === "string") zodOk = utf8Length(v as string) <= field.maxBytes;
      if (zodOk && field.kind === "object") zodOk = utf8Length((v as { s: string }).s) <= 2;
      expect([v, fastValid(field, v)]).toEqual([v, zodOk]);
      expect([v, compileValidator(field)(v)]).toEqual([v, zodOk]);
    }
  });
}

test("a field with extra checks never passes the fast check (zod decides)", () => {
  const field = parseStateSchema(z.object({ f: z.int32().min(5) })).fields[0]![1];
  expect(fastValid(field, 10)).toBe(false);
  const strict = parseStateSchema(z.object({ f: z.strictObject({ a: z.int32() }) })).fields[0]![1];
  expect(fastValid(strict, { a: 1 })).toBe(false);
});

test("utf8Length matches the encoder, lone surrogates included", () => {
  for (const s of ["", "abc", "é", "€", "😀", "a\ud800b", "\udc00", "x😀\ud83d"])
    expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
});

test("copyValue and a compiled copier copy deeply", () => {
  const v = { a: 1, o: { b: [1, 2] } };
  const field = parseStateSchema(z.object({ a: z.int32(), o: z.object({ b: z.array(z.int32()).length(2) }) }));
  const d = compileCopier(field)(v) as typeof v;
  d.o.b[1] = 7;
  expect(v.o.b[1]).toBe(2);
  const c = copyValue(v);
  c.o.b[0] = 9;
  expect(v.o.b[0]).toBe(1);
  expect(c).toEqual({ a: 1, o: { b: [9, 2] } });
});
