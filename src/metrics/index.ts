// Prometheus metrics that survive reloads and restarts: counters in a shared region (region.ts),
// counted by each generation process (generation-metrics.ts), served by the supervisor
// (endpoint.ts) on its own listener.
//
// Worker slots (--workers N): every per-worker series carries `worker="<slot>"`. To fill it in:
// MetricsEndpoint.start({ slots: N }); each worker's BootConfig carries `worker` (its slot),
// which GenerationMetrics.boot reads; the supervisor's gauges return open connections per
// slot (index = slot); a `restarting` event with `worker` counts for that slot.
export { DEFAULT_METRICS_HOST, type MetricsAddress, metricsAddressSchema, metricsUrl, parseMetricsAddress, METRICS_PATH } from "./address.ts";
export { MetricsEndpoint } from "./endpoint.ts";
export { GenerationMetrics } from "./generation-metrics.ts";
export { MetricsRegion } from "./region.ts";
