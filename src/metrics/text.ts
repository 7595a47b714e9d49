// Prometheus text exposition format 0.0.4: one HELP and one TYPE line per family, then its
// samples, every line ending in "\n". Names follow Prometheus conventions: base units
// (seconds), `_total` on counters, histograms as cumulative `_bucket{le}`, `_sum`, `_count`.
import { REQUEST_BUCKETS, RELOAD_BUCKETS } from "./layout.ts";
import type { MetricsTotals } from "./region.ts";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What only the supervisor knows at scrape time (not counters: they need not survive it). */
export interface Gauges {
  /** Open connections per worker slot (index = slot), as the generations last reported them. */
  readonly openConnections: readonly number[];
  /** The generation serving now. */
  readonly generation: number;
}

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** A sample value as Prometheus parses it (Go ParseFloat): integers plain, +Inf spelled out. */
export function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

function family(out: string[], name: string, type: "counter" | "gauge" | "histogram", help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function histogram(out: string[], name: string, labels: string, bounds: readonly number[], counts: readonly number[], sum: number): void {
  const sep = labels ? `${labels},` : "";
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i] ?? 0;
    const le = i < bounds.length ? formatValue(bounds[i]!) : "+Inf";
    out.push(`${name}_bucket{${sep}le="${le}"} ${formatValue(cumulative)}`);
  }
  const braces = labels ? `{${labels}}` : "";
  out.push(`${name}_sum${braces} ${formatValue(sum)}`, `${name}_count${braces} ${formatValue(cumulative)}`);
}

/** The whole exposition: counters from the region, gauges from the supervisor. */
export function renderMetrics(t: MetricsTotals, g: Gauges): string {
  const out: string[] = [];
  family(out, "liveframe_http_requests_total", "counter", "Requests the app answered, by status class (the engine's own 400/408/413/414/431 answers are not counted).");
  for (const s of t.slots) {
    for (let c = 0; c < CLASSES.length; c++) {
      out.push(`liveframe_http_requests_total{code="${CLASSES[c]}",worker="${s.worker}"} ${formatValue(s.requests[c] ?? 0)}`);
    }
  }
  family(out, "liveframe_http_request_duration_seconds", "histogram", "Time from dispatch to the app's response being handed to the HTTP engine.");
  for (const s of t.slots) histogram(out, "liveframe_http_request_duration_seconds", `worker="${s.worker}"`, REQUEST_BUCKETS, s.buckets, s.sum);
  family(out, "liveframe_open_connections", "gauge", "Client connections held by every live generation, as last reported (every 500 ms).");
  for (const s of t.slots) out.push(`liveframe_open_connections{worker="${s.worker}"} ${formatValue(g.openConnections[s.worker] ?? 0)}`);
  family(out, "liveframe_connections_handed_over_total", "counter", "Client connections a generation handed to the next one on a reload or drain.");
  for (const s of t.slots) out.push(`liveframe_connections_handed_over_total{worker="${s.worker}"} ${formatValue(s.handedOver)}`);
  family(out, "liveframe_reloads_total", "counter", "Reloads by result (refused ones, asked for while another ran, are not counted).");
  out.push(`liveframe_reloads_total{result="ok"} ${formatValue(t.reloadsOk)}`, `liveframe_reloads_total{result="failed"} ${formatValue(t.reloadsFailed)}`);
  family(out, "liveframe_reload_duration_seconds", "histogram", "Time from a reload's trigger to its outcome (new generation serving, or failure).");
  histogram(out, "liveframe_reload_duration_seconds", "", RELOAD_BUCKETS, t.reloadBuckets, t.reloadSum);
  family(out, "liveframe_restarts_total", "counter", "Restart attempts of a generation that crashed while serving.");
  for (const s of t.slots) out.push(`liveframe_restarts_total{worker="${s.worker}"} ${formatValue(s.restarts)}`);
  family(out, "liveframe_generation", "gauge", "The generation number serving now (with workers: the highest any worker serves).");
  out.push(`liveframe_generation ${formatValue(g.generation)}`);
  return out.join("\n") + "\n";
}
