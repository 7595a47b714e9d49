import { describe, expect, test } from "bun:test";
import { REQUEST_BUCKETS, RELOAD_BUCKETS } from "./layout.ts";
import type { MetricsTotals } from "./region.ts";
import { CONTENT_TYPE, formatValue, renderMetrics } from "./text.ts";

function totals(over: Partial<MetricsTotals> = {}): MetricsTotals {
  const buckets = new Array(REQUEST_BUCKETS.length + 1).fill(0);
  buckets[0] = 2; // ≤ 100 µs
  buckets[3] = 1; // ≤ 1 ms
  buckets[REQUEST_BUCKETS.length] = 1; // > 10 s
  const reloadBuckets = new Array(RELOAD_BUCKETS.length + 1).fill(0);
  reloadBuckets[1] = 3; // ≤ 250 ms
  return {
    slots: [{ worker: 0, requests: [0, 3, 0, 0, 1], buckets, sum: 12.5, handedOver: 7, restarts: 1 }],
    reloadsOk: 3,
    reloadsFailed: 0,
    reloadBuckets,
    reloadSum: 0.6,
    ...over,
  };
}

describe("Prometheus text format 0.0.4", () => {
  const text = renderMetrics(totals(), { openConnections: [4], generation: 5 });
  const lines = text.split("\n");

  test("ends with a newline, no blank lines, every family has HELP then TYPE before its samples", () => {
    expect(text.endsWith("\n")).toBe(true);
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(0, -1).every((l) => l.length > 0)).toBe(true);
    const families = lines.filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]);
    expect(families).toEqual([
      "liveframe_http_requests_total",
      "liveframe_http_request_duration_seconds",
      "liveframe_open_connections",
      "liveframe_connections_handed_over_total",
      "liveframe_reloads_total",
      "liveframe_reload_duration_seconds",
      "liveframe_restarts_total",
      "liveframe_generation",
    ]);
    for (const name of families) {
      const help = lines.findIndex((l) => l.startsWith(`# HELP ${name} `));
      expect(lines[help + 1]).toStartWith(`# TYPE ${name} `);
      // Every sample of the family follows its TYPE line (none before the HELP line).
      const first = lines.findIndex((l) => !l.startsWith("#") && (l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`)));
      expect(first).toBeGreaterThan(help + 1);
    }
  });

  test("requests by status class, per worker", () => {
    expect(lines).toContain("# TYPE liveframe_http_requests_total counter");
    expect(lines.filter((l) => l.startsWith("liveframe_http_requests_total{"))).toEqual([
      'liveframe_http_requests_total{code="1xx",worker="0"} 0',
      'liveframe_http_requests_total{code="2xx",worker="0"} 3',
      'liveframe_http_requests_total{code="3xx",worker="0"} 0',
      'liveframe_http_requests_total{code="4xx",worker="0"} 0',
      'liveframe_http_requests_total{code="5xx",worker="0"} 1',
    ]);
  });

  test("request duration histogram: cumulative buckets, le last, +Inf equals _count", () => {
    expect(lines).toContain("# TYPE liveframe_http_request_duration_seconds histogram");
    const samples = lines.filter((l) => l.startsWith("liveframe_http_request_duration_seconds"));
    expect(samples).toEqual([
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.0001"} 2',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.00025"} 2',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.0005"} 2',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.001"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.0025"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.005"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.01"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.025"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.05"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.1"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.25"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="0.5"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="1"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="2.5"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="5"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="10"} 3',
      'liveframe_http_request_duration_seconds_bucket{worker="0",le="+Inf"} 4',
      'liveframe_http_request_duration_seconds_sum{worker="0"} 12.5',
      'liveframe_http_request_duration_seconds_count{worker="0"} 4',
    ]);
  });

  test("gauges, handovers, reloads by result, reload histogram without labels, restarts", () => {
    for (const line of [
      "# TYPE liveframe_open_connections gauge",
      'liveframe_open_connections{worker="0"} 4',
      "# TYPE liveframe_connections_handed_over_total counter",
      'liveframe_connections_handed_over_total{worker="0"} 7',
      "# TYPE liveframe_reloads_total counter",
      'liveframe_reloads_total{result="ok"} 3',
      'liveframe_reloads_total{result="failed"} 0',
      "# TYPE liveframe_reload_duration_seconds histogram",
      'liveframe_reload_duration_seconds_bucket{le="0.1"} 0',
      'liveframe_reload_duration_seconds_bucket{le="0.25"} 3',
      'liveframe_reload_duration_seconds_bucket{le="+Inf"} 3',
      "liveframe_reload_duration_seconds_sum 0.6",
      "liveframe_reload_duration_seconds_count 3",
      "# TYPE liveframe_restarts_total counter",
      'liveframe_restarts_total{worker="0"} 1',
      "# TYPE liveframe_generation gauge",
      "liveframe_generation 5",
    ]) {
      expect(lines).toContain(line);
    }
  });

  test("one series per worker slot when there are several", () => {
    const two = totals();
    const t = renderMetrics({ ...two, slots: [two.slots[0]!, { ...two.slots[0]!, worker: 1, requests: [0, 9, 0, 0, 0] }] }, { openConnections: [1, 2], generation: 1 });
    expect(t).toContain('liveframe_http_requests_total{code="2xx",worker="1"} 9\n');
    expect(t).toContain('liveframe_open_connections{worker="1"} 2\n');
    expect(t).toContain('liveframe_http_request_duration_seconds_count{worker="1"} 4\n');
  });

  test("values as Go's ParseFloat reads them; the content type names version 0.0.4", () => {
    expect(formatValue(0)).toBe("0");
    expect(formatValue(123456789012)).toBe("123456789012");
    expect(formatValue(0.00025)).toBe("0.00025");
    expect(formatValue(1e-7)).toBe("1e-7");
    expect(formatValue(Infinity)).toBe("+Inf");
    expect(CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });
});
