// Whole values at one place of a region, read and written (journaled) as one: what
// snapshot(), update() and the set() of composite values are built from.
import { codecFor, type Codec } from "./codec.ts";
import type { Entry } from "./layout.ts";
import type { StateRegion } from "./region.ts";
import type { FieldType } from "./schema.ts";

/** Reads and writes a whole value at one place of the region, journaled. */
export interface Node {
  read(): unknown;
  write(next: unknown, prev: unknown): void;
}

/** A value stored at `off`, inside the journal entry `entry` (the entry itself, or the array holding it). */
export class LocatedNode implements Node {
  private readonly codec: Codec;
  private readonly delta: "i32" | "u32" | "i64" | "u64" | null;
  constructor(
    private readonly r: StateRegion,
    field: FieldType,
    private readonly entry: Entry,
    private readonly off: number,
  ) {
    this.codec = codecFor(r, field);
    const own = off === entry.offset;
    const k = field.kind;
    this.delta = !own ? null : k === "int32" ? "i32" : k === "uint32" ? "u32" : k === "int64" ? "i64" : k === "uint64" ? "u64" : null;
  }
  read(): unknown {
    return this.codec.read(this.off);
  }
  write(next: unknown, prev: unknown): void {
    if (this.codec.equal(next, prev)) return;
    const j = this.r.journal;
    switch (this.delta) {
      case "i32":
        return j.addDelta32(this.entry, (next as number) - (prev as number), false);
      case "u32":
        return j.addDelta32(this.entry, (next as number) - (prev as number), true);
      case "i64":
        return j.addDelta64(this.entry, (next as bigint) - (prev as bigint), false);
      case "u64":
        return j.addDelta64(this.entry, (next as bigint) - (prev as bigint), true);
      default:
        j.saveBytes(this.entry);
        this.codec.write(this.off, next, prev);
    }
  }
}

/** An object whose fields are separate entries (a nested z.object outside arrays). */
export class FlatObjectNode implements Node {
  private readonly keys: string[];
  private readonly nodes: Node[];
  constructor(children: readonly (readonly [string, Node])[]) {
    this.keys = children.map(([k]) => k);
    this.nodes = children.map(([, n]) => n);
  }
  read(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const { keys, nodes } = this;
    for (let i = 0; i < keys.length; i++) out[keys[i]!] = nodes[i]!.read();
    return out;
  }
  write(next: unknown, prev: unknown): void {
    const a = next as Record<string, unknown>;
    const b = prev as Record<string, unknown>;
    const { keys, nodes } = this;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      nodes[i]!.write(a[k], b[k]);
    }
  }
}
