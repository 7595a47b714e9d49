// What a generation process does for metrics, built by generation/main.ts beside its real
// environment: on `boot` it maps the region the supervisor named and claims a lane; the app
// it serves is wrapped to count requests; the handover counts it reports to the supervisor
// are added to its lane as they are told. Without a region (metrics off) it does nothing.
import { recordHandedOver, instrument } from "./recorder.ts";
import { MetricsRegion, type Lane } from "./region.ts";
import type { FetchApp } from "../http/index.ts";

export class GenerationMetrics {
  private lane: Lane | null = null;
  /** Connections already counted from this drain's `handed-over` (its `given` repeats them). */
  private countedInDrain = 0;

  constructor(
    private readonly pid: number,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * From the boot config: `metricsFile` (absent: metrics off) and `worker` (slot, 0 until
   * there are workers). A region that cannot be used costs the metrics, never the generation.
   */
  boot(config: { metricsFile?: string; worker?: number; generation: number }): void {
    if (!config.metricsFile || this.lane) return;
    try {
      const region = MetricsRegion.open(config.metricsFile);
      this.lane = region.claimLane(this.pid, config.worker ?? 0);
      if (!this.lane) this.log(`liveframe generation ${config.generation}: every lane of ${config.metricsFile} is taken; this generation serves without metrics`);
    } catch (err) {
      this.log(`liveframe generation ${config.generation}: cannot map the metrics region (${(err as Error).message}); this generation serves without metrics`);
    }
  }

  instrument(app: FetchApp): FetchApp {
    return this.lane ? instrument(app, this.lane) : app;
  }

  /**
   * Sees each message the generation tells the supervisor. `handed-over` reports the
   * connections moved at once, `given` every one the drain moved (those included); a later
   * drain counts from 0 again.
   */
  told(m: { type: string; connectionsMoved?: number }): void {
    if (!this.lane || (m.type !== "handed-over" && m.type !== "given")) return;
    const moved = m.connectionsMoved ?? 0;
    recordHandedOver(this.lane, moved - this.countedInDrain);
    this.countedInDrain = m.type === "given" ? 0 : Math.max(this.countedInDrain, moved);
  }
}
