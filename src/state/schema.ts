// From a zod schema to the fixed-size field types a state region can hold.
// Everything else is refused when the state is defined, naming the field and what to use.
import type { z } from "zod";

export type FieldType =
  | { kind: "int32" | "uint32" | "float64" | "int64" | "uint64" | "boolean"; schema: z.ZodType; plain: boolean }
  | { kind: "enum"; values: readonly string[]; schema: z.ZodType; plain: boolean }
  | { kind: "string"; maxBytes: number; schema: z.ZodType; plain: boolean }
  | { kind: "object"; fields: readonly (readonly [string, FieldType])[]; schema: z.ZodType; plain: boolean }
  | { kind: "array"; length: number; element: FieldType; schema: z.ZodType; plain: boolean };

/** Names a view uses itself: a field with one of these names would hide a method. */
export const RESERVED_NAMES = new Set(["get", "set", "update", "snapshot", "sync", "close", "info"]);

/** Largest string capacity: one field must stay far below the region size limit. */
export const MAX_STRING_BYTES = 1 << 20;
/** Largest array length, for the same reason. */
export const MAX_ARRAY_LENGTH = 1 << 20;

const SUPPORTED =
  "z.int32(), z.uint32(), z.float64(), z.int64(), z.uint64(), z.boolean(), z.enum([...]), " +
  "z.string().max(n), z.object({...}), z.array(T).length(n)";

export class StateSchemaError extends Error {
  constructor(path: string, why: string) {
    super(`state field "${path}": ${why}. State fields must have a fixed size: ${SUPPORTED}`);
    this.name = "StateSchemaError";
  }
}

interface Internals {
  _zod: { def: { type: string; format?: string; checks?: { _zod: { def: Record<string, unknown> } }[] } & Record<string, unknown> };
}

function defOf(t: z.ZodType): Internals["_zod"]["def"] {
  return (t as unknown as Internals)._zod.def;
}

function checksOf(t: z.ZodType): Record<string, unknown>[] {
  return (defOf(t).checks ?? []).map((c) => c._zod.def);
}

/** Turns the zod object given to defineState into field types; throws StateSchemaError. */
export function parseStateSchema(schema: z.ZodType): FieldType & { kind: "object" } {
  const def = defOf(schema);
  if (def.type !== "object") {
    throw new Error(`defineState(schema): schema must be z.object({...}), got z.${def.type}()`);
  }
  return parseField(schema, "") as FieldType & { kind: "object" };
}

function parseField(t: z.ZodType, path: string): FieldType {
  const def = defOf(t);
  const checks = checksOf(t);
  const where = path || "(root)";
  switch (def.type) {
    case "number": {
      const f = def.format;
      if (f === "int32" || f === "uint32" || f === "float64") return { kind: f, schema: t, plain: checks.length === 0 };
      if (f === "safeint" || checks.some((c) => c.format === "safeint"))
        throw new StateSchemaError(where, "z.int() / .int() has no fixed width: use z.int32(), z.uint32() or z.int64()");
      if (f === "float32") throw new StateSchemaError(where, "z.float32() is not stored: use z.float64()");
      throw new StateSchemaError(where, "z.number() has no fixed width: use z.float64() or z.int32()");
    }
    case "bigint": {
      const f = def.format;
      if (f === "int64" || f === "uint64") return { kind: f, schema: t, plain: checks.length === 0 };
      throw new StateSchemaError(where, "z.bigint() has no fixed width: use z.int64() or z.uint64()");
    }
    case "boolean":
      return { kind: "boolean", schema: t, plain: checks.length === 0 };
    case "enum": {
      const entries = Object.values(def.entries as Record<string, unknown>);
      if (!entries.every((v) => typeof v === "string"))
        throw new StateSchemaError(where, "only string enums are stored: use z.enum([\"a\", \"b\"])");
      return { kind: "enum", values: entries as string[], schema: t, plain: checks.length === 0 };
    }
    case "string": {
      const max = checks.find((c) => c.check === "max_length" || c.check === "length_equals");
      const n = max ? Number(max.check === "max_length" ? max.maximum : max.length) : NaN;
      if (!Number.isInteger(n) || n < 0)
        throw new StateSchemaError(where, "a string needs a capacity: use z.string().max(n) (n = UTF-8 bytes)");
      if (n > MAX_STRING_BYTES) throw new StateSchemaError(where, `z.string().max(${n}) is over ${MAX_STRING_BYTES} bytes`);
      const plain = checks.length === 1 && max !== undefined && max.check === "max_length";
      return { kind: "string", maxBytes: n, schema: t, plain };
    }
    case "object": {
      const shape = (t as unknown as { shape: Record<string, z.ZodType> }).shape;
      const fields: (readonly [string, FieldType])[] = [];
      for (const [name, child] of Object.entries(shape)) {
        const childPath = path ? `${path}.${name}` : name;
        if (RESERVED_NAMES.has(name))
          throw new StateSchemaError(childPath, `"${name}" is the name of a view method: rename the field`);
        if (name.includes(".") || name.includes("[") || name.length === 0)
          throw new StateSchemaError(childPath, "field names must not be empty or contain '.' or '['");
        fields.push([name, parseField(child, childPath)] as const);
      }
      // A strict or loose object (a catchall) judges unknown keys: leave that to zod.
      return { kind: "object", fields, schema: t, plain: checks.length === 0 && def.catchall === undefined };
    }
    case "array": {
      const len = checks.find((c) => c.check === "length_equals");
      const n = len ? Number(len.length) : NaN;
      if (!Number.isInteger(n) || n < 0)
        throw new StateSchemaError(where, "an array needs a fixed length: use z.array(T).length(n)");
      if (n > MAX_ARRAY_LENGTH) throw new StateSchemaError(where, `z.array(T).length(${n}) is over ${MAX_ARRAY_LENGTH}`);
      const element = parseField(def.element as z.ZodType, `${where}[]`);
      return { kind: "array", length: n, element, schema: t, plain: checks.length === 1 };
    }
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
      throw new StateSchemaError(
        where,
        `z.${def.type}() wrappers are not stored: every field always has a value (zero, "", false or the first enum value at first)`,
      );
    default:
      throw new StateSchemaError(where, `z.${def.type}() has no fixed size`);
  }
}
