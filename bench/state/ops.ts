// The operations the state benchmark times, each with its plain-object and Map baselines.
// Shared by the measuring process and the contending child so both run the same code.
import { z } from "zod";
import { defineState } from "../../src/state/index.ts";

export const benchSchema = z.object({
  hits: z.int32(),
  name: z.string().max(32),
  point: z.object({ x: z.int32(), y: z.int32(), label: z.string().max(16) }),
});

export type Op = "add" | "get" | "set int" | "set string" | "update struct";
export const OPS: Op[] = ["add", "get", "set int", "set string", "update struct"];
/** Iterations per timed run: enough to dwarf timer overhead, few enough for a shared 2-core box. */
export const ITERATIONS: Record<Op, number> = {
  add: 2_000_000,
  get: 2_000_000,
  "set int": 2_000_000,
  "set string": 200_000,
  "update struct": 50_000,
};

const NAMES = ["alpha", "bravo", "charlie", "delta"];

/** Returns a function running `n` iterations of `op` on each target, returning a sink value. */
export function makeRunners(file: string): Record<Op, Record<"state" | "object" | "map", (n: number) => number>> {
  const s = defineState(benchSchema, { file });
  const obj = { hits: 0, name: "", point: { x: 0, y: 0, label: "" } };
  const map = new Map<string, unknown>([
    ["hits", 0],
    ["name", ""],
    ["point", { x: 0, y: 0, label: "" }],
  ]);
  return {
    add: {
      state: (n) => {
        let r = 0;
        for (let i = 0; i < n; i++) r = s.hits.add(1);
        s.hits.set(0); // keep far from int32 overflow across runs
        return r;
      },
      object: (n) => {
        for (let i = 0; i < n; i++) obj.hits += 1;
        return obj.hits;
      },
      map: (n) => {
        for (let i = 0; i < n; i++) map.set("hits", (map.get("hits") as number) + 1);
        return map.get("hits") as number;
      },
    },
    get: {
      state: (n) => {
        let r = 0;
        for (let i = 0; i < n; i++) r += s.hits.get();
        return r;
      },
      object: (n) => {
        let r = 0;
        for (let i = 0; i < n; i++) r += obj.hits;
        return r;
      },
      map: (n) => {
        let r = 0;
        for (let i = 0; i < n; i++) r += map.get("hits") as number;
        return r;
      },
    },
    "set int": {
      state: (n) => {
        for (let i = 0; i < n; i++) s.hits.set(i);
        return s.hits.get();
      },
      object: (n) => {
        for (let i = 0; i < n; i++) obj.hits = i;
        return obj.hits;
      },
      map: (n) => {
        for (let i = 0; i < n; i++) map.set("hits", i);
        return map.get("hits") as number;
      },
    },
    "set string": {
      state: (n) => {
        for (let i = 0; i < n; i++) s.name.set(NAMES[i & 3]!);
        return s.name.get().length;
      },
      object: (n) => {
        for (let i = 0; i < n; i++) obj.name = NAMES[i & 3]!;
        return obj.name.length;
      },
      map: (n) => {
        for (let i = 0; i < n; i++) map.set("name", NAMES[i & 3]!);
        return (map.get("name") as string).length;
      },
    },
    "update struct": {
      state: (n) => {
        for (let i = 0; i < n; i++)
          s.update((d) => {
            d.point.x = i;
            d.point.y = -i;
            d.point.label = NAMES[i & 3]!;
          });
        return s.point.x.get();
      },
      object: (n) => {
        for (let i = 0; i < n; i++) {
          const p = obj.point;
          p.x = i;
          p.y = -i;
          p.label = NAMES[i & 3]!;
        }
        return obj.point.x;
      },
      map: (n) => {
        for (let i = 0; i < n; i++) map.set("point", { x: i, y: -i, label: NAMES[i & 3]! });
        return (map.get("point") as { x: number }).x;
      },
    },
  };
}
