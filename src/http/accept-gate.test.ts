// AcceptGate with a stand-in for Bun's listener and an injected fd count: when it stops and
// resumes accepting, and that our listening fd stays open while it is paused.
import { afterEach, expect, spyOn, test } from "bun:test";
import { close, createListener, isOpen } from "../../ffi/index.ts";
import { AcceptGate } from "./accept-gate.ts";
import { FdBudget } from "./fd-budget.ts";

const LIMIT = 100;
/** FdBudget's headroom at LIMIT (16 + 100/64). */
const HEADROOM = 17;
const OTHERS = 20;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

/** A gate over one real listening fd; Bun's listener is a stub that records starts and stops. */
function rig() {
  const logged: string[] = [];
  const spy = spyOn(console, "error").mockImplementation((...a: unknown[]) => void logged.push(a.join(" ")));
  const state = { connections: 0, started: 0, stopped: 0 };
  const budget = new FdBudget({ limit: () => LIMIT, open: () => OTHERS + state.connections });
  const gate = new AcceptGate(
    {
      connections: () => state.connections,
      accept: (fd) => {
        state.started++;
        return {
          stop() {
            state.stopped++;
            close(fd); // as Bun does with the fd it was given
          },
        } as never;
      },
    },
    budget,
  );
  const { fd } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  gate.add(fd, 1234);
  cleanups.push(() => {
    gate.close();
    spy.mockRestore();
  });
  return { gate, state, fd, logged, budget };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

test("accepts until the budget is spent, then pauses (our fd stays open) and resumes once connections close", async () => {
  const { gate, state, fd, logged } = rig();
  expect(gate.accepting).toBe(true);
  const room = LIMIT - OTHERS - HEADROOM;
  state.connections = room - 1;
  gate.opened(true);
  expect(gate.accepting).toBe(true);
  state.connections = room;
  gate.opened(true);
  expect(gate.accepting).toBe(false);
  expect(isOpen(fd)).toBe(true);
  expect(logged.filter((l) => l.includes("not accepting new connections for now"))).toHaveLength(1);
  // One close is not enough room to resume (hysteresis), several are.
  state.connections = room - 1;
  gate.closed();
  await turn();
  expect(gate.accepting).toBe(false);
  state.connections = room - 10;
  gate.closed();
  await turn();
  expect(gate.accepting).toBe(true);
  expect(state.started).toBe(2);
  expect(logged.some((l) => l.includes("accepting new connections again"))).toBe(true);
});

test("pause holds accepting until resume; a resume while the fd budget is spent stays paused", async () => {
  const { gate, state } = rig();
  gate.pause();
  expect(gate.accepting).toBe(false);
  gate.resume();
  expect(gate.accepting).toBe(true);
  gate.pause();
  state.connections = LIMIT; // far past the budget
  gate.resume();
  expect(gate.accepting).toBe(false);
  expect(state.started).toBe(2);
});

test("a reservation for a handover leaves its fds free; adopted connections use it up; 0 ends it", async () => {
  const { gate, budget } = rig();
  gate.reserve(LIMIT - OTHERS - HEADROOM);
  expect(gate.accepting).toBe(false);
  expect(budget.reserved).toBe(LIMIT - OTHERS - HEADROOM);
  gate.adopted();
  expect(budget.reserved).toBe(LIMIT - OTHERS - HEADROOM - 1);
  gate.reserve(0);
  await turn();
  expect(gate.accepting).toBe(true);
  expect(gate.adoptCapacity()).toBe(LIMIT - OTHERS - Math.ceil(HEADROOM / 2));
});

test("close stops Bun's listener and closes our fd", () => {
  const { gate, state, fd } = rig();
  gate.close();
  expect(state.stopped).toBe(1);
  expect(isOpen(fd)).toBe(false);
  expect(gate.fds).toEqual([]);
});
