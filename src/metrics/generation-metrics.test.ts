import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { GenerationMetrics } from "./generation-metrics.ts";
import { MetricsRegion } from "./region.ts";

const cleanups = cleanupAfterEach();

function region() {
  const dir = mkdtempSync(join(tmpdir(), "lf-gen-metrics-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const r = MetricsRegion.createUnlinked(dir);
  cleanups.push(() => r.close());
  return r;
}

test("handovers: `handed-over` then `given` of the same drain count each connection once; a later drain counts again", () => {
  const r = region();
  const logs: string[] = [];
  const m = new GenerationMetrics(4242, (l) => logs.push(l));
  m.boot({ metricsFile: r.sharedPath, generation: 3 });
  m.told({ type: "counts" });
  m.told({ type: "handed-over", connectionsMoved: 5 });
  m.told({ type: "given", connectionsMoved: 7 }); // 5 at once + 2 late
  expect(r.totals().slots[0]!.handedOver).toBe(7);
  m.told({ type: "handed-over", connectionsMoved: 1 });
  m.told({ type: "given", connectionsMoved: 1 });
  expect(r.totals().slots[0]!.handedOver).toBe(8);
  expect(logs).toEqual([]);
});

test("a region that cannot be opened costs the metrics, not the generation: the app is served unwrapped and the log says why", async () => {
  const logs: string[] = [];
  const m = new GenerationMetrics(4243, (l) => logs.push(l));
  m.boot({ metricsFile: "/nonexistent/metrics.bin", generation: 2 });
  const app = { fetch: () => new Response("x") };
  expect(m.instrument(app)).toBe(app);
  m.told({ type: "given", connectionsMoved: 3 }); // nothing to count in: no throw
  expect(logs).toHaveLength(1);
  expect(logs[0]).toStartWith("liveframe generation 2: cannot map the metrics region (");
  expect(logs[0]).toEndWith("); this generation serves without metrics");
  // Metrics off (no file named): nothing logged, nothing wrapped.
  const off = new GenerationMetrics(4244, (l) => logs.push(l));
  off.boot({ generation: 2 });
  expect(off.instrument(app)).toBe(app);
  expect(logs).toHaveLength(1);
});
