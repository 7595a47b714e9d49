// One concise line per supervisor event, for the foreground log of `start` and `dev`.
import type { Palette } from "./color.ts";
import type { ReloadOutcome, SupervisorEvent } from "./supervisor-link.ts";

export const ms = (v: unknown): string => (typeof v === "number" ? `${Math.round(v)} ms` : "?");

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * "generation 3 → 4 (pid 812) ready in 95 ms, 12 connections handed over, 2 requests still
 * running in generation 3 (drain until 12:00:30), 140 ms total", and once generation 3 has
 * drained: "…; generation 3 drained: 2 requests completed, 0 cut, 2 connections handed over late".
 */
export function describeReload(o: ReloadOutcome): string {
  if (!o.ok) return `reload of generation ${o.from} failed after ${ms(o.totalMs)}: ${o.error ?? "unknown error"}`;
  let line = `generation ${o.from} → ${o.to ?? "?"} (pid ${o.pid ?? "?"}) ready in ${ms(o.readyMs)}, ${plural(o.connectionsMoved, "connection")} handed over`;
  if (o.oldGenerationDied) {
    line += `; generation ${o.from} ${o.oldGenerationDied.replace(/^generation \d+ \(pid \d+\) /, "")}`;
    if (o.connectionsLost !== undefined) line += `, ${plural(o.connectionsLost, "connection")} it held lost with it`;
  } else if (o.busyDraining !== undefined) {
    line +=
      o.busyDraining === 0
        ? ", no request in flight"
        : `, ${plural(o.busyDraining, "request")} still running in generation ${o.from}${o.drainDeadline ? ` (cut at ${o.drainDeadline.slice(11, 19)} UTC if not done)` : ""}`;
  } else line += `, ${plural(o.requestsDrained, "request")} drained`;
  line += `, ${ms(o.totalMs)} total`;
  if (o.workers && o.workers.length > 1) line += ` (${describeWorkers(o)})`;
  if (o.drained && (o.drained.requestsCompleted || o.drained.requestsCut || o.drained.movedLate || o.drained.note)) line += `; ${describeDrained(o.drained)}`;
  return line;
}

/** "worker 0: 6 handed over, worker 1: 5 handed over, 1 still running" */
function describeWorkers(o: ReloadOutcome): string {
  return o
    .workers!.map((w) => `worker ${w.worker}: ${w.connectionsMoved} handed over${w.busyDraining ? `, ${w.busyDraining} still running` : ""}`)
    .join(", ");
}

/** "generation 3 drained: 2 requests completed, 0 cut, 2 connections handed over late" */
export function describeDrained(d: { generation: number; requestsCompleted: number; requestsCut: number; movedLate: number; note?: string }): string {
  return (
    `generation ${d.generation} drained: ${plural(d.requestsCompleted, "request")} completed, ${d.requestsCut} cut, ` +
    `${plural(d.movedLate, "connection")} handed over late${d.note ? ` (${d.note})` : ""}`
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
      return c.yellow(`generation ${String(e.generation ?? "?")}${typeof e.worker === "number" ? ` worker ${e.worker}` : ""} (pid ${String(e.pid ?? "?")}) exited${e.code !== undefined ? ` with code ${String(e.code)}` : ""}${e.signal ? ` by ${String(e.signal)}` : ""}`);
    case "drained": {
      const d = {
        generation: Number(e.generation),
        requestsCompleted: Number(e.requestsCompleted ?? 0),
        requestsCut: Number(e.requestsCut ?? 0),
        movedLate: Number(e.movedLate ?? 0),
        note: typeof e.note === "string" ? e.note : undefined,
      };
      // A generation that had nothing running drains at once: not worth a line.
      if (!d.requestsCompleted && !d.requestsCut && !d.movedLate && !d.note) return undefined;
      return d.requestsCut || d.note ? c.yellow(describeDrained(d)) : c.dim(describeDrained(d));
    }
    case "drain-cut":
      return c.yellow(`cutting generation ${String(e.generation)}'s ${String(e.busy)} busy connections: ${String(e.reason)}`);
    case "restarting":
      return c.yellow(`${typeof e.worker === "number" ? `worker ${e.worker}: ` : ""}restarting the app${e.delayMs !== undefined ? ` in ${ms(e.delayMs)}` : ""}${e.reason ? `: ${String(e.reason)}` : ""}`);
    case "stopping":
      return c.dim("stopping: finishing in-flight requests…");
    case "stopped":
      return c.dim("stopped");
    default:
      return undefined;
  }
}
