// FdBudget decides when to stop accepting and how many connections a handover may bring, from
// the fd limit and the fds open; here both are injected.
import { expect, test } from "bun:test";
import { FdBudget, MIN_HEADROOM_FDS, RECOUNT_INTERVAL_MS } from "./fd-budget.ts";

function budget(limit: number, open: () => number | null) {
  let counts = 0;
  const b = new FdBudget({ limit: () => limit, open: () => (counts++, open()) });
  return { b, counts: () => counts };
}

test("headroom: at least MIN_HEADROOM_FDS, growing with the limit, capped", () => {
  expect(budget(64, () => 10).b.headroom).toBe(MIN_HEADROOM_FDS + 1);
  expect(budget(128, () => 10).b.headroom).toBe(MIN_HEADROOM_FDS + 2);
  expect(budget(1 << 20, () => 10).b.headroom).toBe(256);
});

test("accept room is the limit less other fds, connections, the reservation and the headroom", () => {
  let open = 12; // 10 others + 2 connections
  const { b } = budget(128, () => open);
  expect(b.acceptRoom(2, 0, true)).toBe(128 - 10 - 2 - 18);
  b.reserved = 50;
  expect(b.acceptRoom(2, 0, true)).toBe(128 - 10 - 2 - 50 - 18);
  open = 10 + 100;
  expect(b.acceptRoom(100, 0, true)).toBeLessThanOrEqual(0);
});

test("between counts the other fds are taken as unchanged; a count older than the interval is redone", () => {
  let open = 100;
  const { b, counts } = budget(10_000, () => open);
  const first = b.acceptRoom(0, 0, true);
  expect(counts()).toBe(1);
  open = 5000; // the app opened files: not seen until the next count
  expect(b.acceptRoom(1, 10)).toBe(first - 1);
  expect(counts()).toBe(1);
  expect(b.acceptRoom(1, RECOUNT_INTERVAL_MS)).toBe(first - 4900);
  expect(counts()).toBe(2);
  expect(b.acceptRoom(1, RECOUNT_INTERVAL_MS + 1, true)).toBe(first - 4900);
  expect(counts()).toBe(3);
});

test("fds that cannot even be counted (EMFILE) mean no room at all", () => {
  expect(budget(128, () => null).b.acceptRoom(0, 0, true)).toBe(0);
  expect(budget(128, () => null).b.adoptRoom(0, 0)).toBe(0);
});

test("a handover may use half the headroom, and the reservation is its own", () => {
  const { b } = budget(128, () => 20);
  b.reserved = 90;
  expect(b.adoptRoom(0, 0)).toBe(128 - 20 - 9);
});
