// One concise line per supervisor event, for the foreground log of `start` and `dev`.
import type { Palette } from "./color.ts";
import type { ReloadOutcome, SupervisorEvent } from "./supervisor-link.ts";

export const ms = (v: unknown): string => (typeof v === "number" ? `${Math.round(v)} ms` : "?");

/** "generation 3 → 4 (pid 812) ready in 95 ms, 12 connections handed over, 1 request drained, 140 ms total" */
export function describeReload(o: ReloadOutcome): string {
  if (!o.ok) return `reload of generation ${o.from} failed after ${ms(o.totalMs)}: ${o.error ?? "unknown error"}`;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return (
    `generation ${o.from} → ${o.to ?? "?"} (pid ${o.pid ?? "?"}) ready in ${ms(o.readyMs)}, ` +
    `${plural(o.connectionsMoved, "connection")} handed over, ${plural(o.requestsDrained, "request")} drained, ${ms(o.totalMs)} total`
  );
}

function isOutcome(v: unknown): v is ReloadOutcome {
  return typeof v === "object" && v !== null && "ok" in v && "from" in v && "totalMs" in v;
}

/** A log line for an event, or undefined for events not worth a line. */
export function describeEvent(e: SupervisorEvent, c: Palette): string | undefined {
  const outcome = isOutcome(e.outcome) ? e.outcome : isOutcome(e) ? (e as unknown as ReloadOutcome) : undefined;
  switch (e.type) {
    case "ready":
      return undefined; // start/dev print their own "listening on" line
    case "reloading":
      return c.dim(`reloading${typeof e.reason === "string" ? ` (${e.reason})` : ""}…`);
    case "reloaded":
      return outcome ? c.green(describeReload(outcome)) : c.green("reloaded");
    case "reload-failed":
      return c.red(outcome ? describeReload(outcome) : `reload failed: ${String(e.error ?? "unknown error")}`);
    case "generation-exited":
      if (e.expected === true) return undefined; // an old generation leaving after a reload, or a stop
      return c.yellow(`generation ${String(e.generation ?? "?")} (pid ${String(e.pid ?? "?")}) exited${e.code !== undefined ? ` with code ${String(e.code)}` : ""}${e.signal ? ` by ${String(e.signal)}` : ""}`);
    case "restarting":
      return c.yellow(`restarting the app${e.delayMs !== undefined ? ` in ${ms(e.delayMs)}` : ""}${e.reason ? `: ${String(e.reason)}` : ""}`);
    case "stopping":
      return c.dim("stopping: finishing in-flight requests…");
    case "stopped":
      return c.dim("stopped");
    default:
      return undefined;
  }
}
