import { expect, test } from "bun:test";
import { z } from "zod";
import { parseStateSchema, StateSchemaError } from "./schema.ts";

test("every supported field type is accepted with its size parameters", () => {
  const t = parseStateSchema(
    z.object({
      a: z.int32(),
      b: z.uint32(),
      c: z.float64(),
      d: z.int64(),
      e: z.uint64(),
      f: z.boolean(),
      g: z.enum(["x", "y"]),
      h: z.string().max(10),
      i: z.object({ j: z.int32() }),
      k: z.array(z.object({ l: z.string().max(2) })).length(3),
    }),
  );
  expect(t.fields.map(([k, f]) => `${k}:${f.kind}`)).toEqual([
    "a:int32", "b:uint32", "c:float64", "d:int64", "e:uint64", "f:boolean", "g:enum", "h:string", "i:object", "k:array",
  ]);
  const h = t.fields[7]![1];
  expect(h.kind === "string" && h.maxBytes).toBe(10);
  const k = t.fields[9]![1];
  expect(k.kind === "array" && k.length).toBe(3);
});

test("plain fields are marked for the fast path; extra checks send values through zod", () => {
  const t = parseStateSchema(z.object({ a: z.int32(), b: z.int32().min(0), s: z.string().max(4), u: z.string().min(1).max(4) }));
  expect(t.fields.map(([, f]) => f.plain)).toEqual([true, false, true, false]);
});

const refused: [string, z.ZodType, string][] = [
  ["z.number()", z.number(), "use z.float64() or z.int32()"],
  ["z.int()", z.int(), "use z.int32(), z.uint32() or z.int64()"],
  ["z.number().int()", z.number().int(), "use z.int32()"],
  ["z.float32()", z.float32(), "use z.float64()"],
  ["z.bigint()", z.bigint(), "use z.int64() or z.uint64()"],
  ["z.string()", z.string(), "use z.string().max(n)"],
  ["z.array(T)", z.array(z.int32()), "use z.array(T).length(n)"],
  ["z.array(T).max(n)", z.array(z.int32()).max(3), "use z.array(T).length(n)"],
  ["z.int32().optional()", z.int32().optional(), "every field always has a value"],
  ["z.int32().default(1)", z.int32().default(1), "every field always has a value"],
  ["z.date()", z.date(), "z.date() has no fixed size"],
  ["z.record()", z.record(z.string(), z.int32()), "z.record() has no fixed size"],
];

for (const [name, schema, hint] of refused) {
  test(`${name} is refused at definition time, naming the field and what to use`, () => {
    const run = () => parseStateSchema(z.object({ outer: z.object({ field: schema }) }));
    expect(run).toThrow(StateSchemaError);
    expect(run).toThrow('state field "outer.field"');
    expect(run).toThrow(hint);
  });
}

test("an unsupported array element names the path with []", () => {
  expect(() => parseStateSchema(z.object({ xs: z.array(z.number()).length(2) }))).toThrow('state field "xs[]"');
});

test("field names that would hide a view method are refused", () => {
  expect(() => parseStateSchema(z.object({ update: z.int32() }))).toThrow('"update" is the name of a view method');
  expect(() => parseStateSchema(z.object({ o: z.object({ get: z.int32() }) }))).toThrow('state field "o.get"');
});

test("the schema itself must be an object", () => {
  expect(() => parseStateSchema(z.int32())).toThrow("schema must be z.object");
});
