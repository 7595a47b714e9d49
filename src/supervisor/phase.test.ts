// The supervisor's phase machine: every allowed transition works, every other one throws.
import { expect, test } from "bun:test";
import { backoffMs } from "./backoff.ts";
import { PhaseMachine, TRANSITIONS, type PhaseName } from "./phase.ts";

const names = Object.keys(TRANSITIONS) as PhaseName[];

/** A machine brought into `name` by allowed transitions. */
function machineIn(name: PhaseName): PhaseMachine<object> {
  const m = new PhaseMachine<object>();
  if (name === "booting") return m;
  if (name === "stopping") {
    m.stop(Promise.resolve());
    return m;
  }
  m.serve();
  if (name === "reloading") m.reload(1, 2, 0);
  if (name === "restarting") m.restart(1);
  return m;
}

function go(m: PhaseMachine<object>, to: PhaseName): void {
  if (to === "booting") throw new Error("booting is only the start");
  if (to === "serving") m.serve();
  if (to === "reloading") m.reload(1, 2, 0);
  if (to === "restarting") m.restart(1);
  if (to === "stopping") m.stop(Promise.resolve());
}

for (const from of names) {
  for (const to of names) {
    const allowed = TRANSITIONS[from].includes(to);
    test(`${from} → ${to}: ${allowed ? "allowed" : "refused"}`, () => {
      const m = machineIn(from);
      expect(m.name).toBe(from);
      if (allowed) {
        go(m, to);
        expect(m.name).toBe(to);
      } else {
        expect(() => go(m, to)).toThrow();
        expect(m.name).toBe(from);
      }
    });
  }
}

test("backoff: the first retry at once, then min doubling up to max", () => {
  expect([1, 2, 3, 4, 5, 10].map((n) => backoffMs(n, 250, 1000))).toEqual([0, 250, 500, 1000, 1000, 1000]);
});
