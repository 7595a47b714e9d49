// The generation's side: counts each request the app answers in this process's lane. Per
// request: two clock reads and three `+=` on memory only this process writes (region.ts says
// why no atomics are needed).
import type { FetchApp } from "../http/index.ts";
import { REQUEST_BUCKETS, ROW } from "./layout.ts";
import type { Lane } from "./region.ts";

/** Bucket bounds in whole microseconds, the unit the sum is kept in. */
const BOUNDS_US = REQUEST_BUCKETS.map((s) => Math.round(s * 1e6));
const LAST_BOUND_INDEX = BOUNDS_US.length;

/**
 * Counts one answered request: its status and how long the app took, in milliseconds. The sum
 * is kept in whole microseconds: integer float64 additions are exact (to 2^53 µs, 285 years of
 * request time), so folding lanes in any order never makes the sum go back by a rounding.
 */
export function recordRequest(lane: Lane, status: number, ms: number): void {
  const f = lane.f64;
  const base = lane.base;
  // 1xx … 5xx; anything outside (a status the engine will refuse) counts as 5xx.
  const cls = status >= 100 && status < 600 ? ((status / 100) | 0) - 1 : 4;
  f[base + ROW.requests + cls]! += 1;
  // Linear search: fast responses stop at the first bounds.
  const us = Math.round(ms * 1000);
  let i = 0;
  while (i < LAST_BOUND_INDEX && us > BOUNDS_US[i]!) i++;
  f[base + ROW.buckets + i]! += 1;
  f[base + ROW.sum]! += us;
}

/** Counts connections this process handed to another generation. */
export function recordHandedOver(lane: Lane, connections: number): void {
  if (connections > 0) lane.f64[lane.base + ROW.handedOver]! += connections;
}

/**
 * Wraps `app.fetch` to count each request by status class and duration. Duration runs from
 * the engine's dispatch to the app's Response being handed back to the engine (a streamed
 * body may still be sending). A throw or a rejected promise counts as 5xx (the engine answers
 * 500). The engine gets back exactly what the app returned (the same Response, the same
 * Promise) and the app exactly the arguments the engine passed: nothing either can observe
 * changes, except one more frame (this one) in an error's stack.
 */
export function instrument(app: FetchApp, lane: Lane, now?: () => number): FetchApp {
  const clock = now ?? (() => performance.now());
  const direct = now === undefined;
  return {
    fetch(request: Request, env?: unknown) {
      const started = direct ? performance.now() : clock();
      let result: Response | Promise<Response>;
      try {
        // The engine passes (request, env), as Bun.serve does: the fast call. Any other
        // arity goes through as it came.
        result =
          arguments.length === 2
            ? app.fetch(request, env)
            : (app.fetch as (...args: unknown[]) => Response | Promise<Response>).apply(app, arguments as unknown as unknown[]);
      } catch (err) {
        recordRequest(lane, 500, clock() - started);
        throw err;
      }
      if (result instanceof Promise) {
        // Observed beside the engine, which awaits the app's own promise as before (a
        // rejection is still the engine's to handle: this branch never rethrows it).
        result.then(
          (response) => recordRequest(lane, statusOf(response), clock() - started),
          () => recordRequest(lane, 500, clock() - started),
        );
        return result;
      }
      recordRequest(lane, statusOf(result), (direct ? performance.now() : clock()) - started);
      return result;
    },
  };
}

/**
 * The status the engine will send: a Response's own; anything without a numeric status is not
 * a Response and gets a 500. Read, not `instanceof Response`: with the engine's Response
 * installed that is a Symbol.hasInstance call (~65 ns measured), the status read ~20 ns.
 */
function statusOf(r: unknown): number {
  if (typeof r !== "object" || r === null) return 500;
  const status = (r as { status?: unknown }).status;
  return typeof status === "number" ? status : 500;
}
