// Prometheus metrics that survive reloads and restarts: counters in a shared region (region.ts),
// counted by each generation process (generation-metrics.ts), served by the supervisor
// (endpoint.ts) on its own listener.
//
// Worker slots (--workers N): every per-worker series carries `worker="<slot>"`. The worker
// pool (supervisor/workers.ts) calls MetricsEndpoint.start({ slots: N }) once for the whole
// supervisor and gives it to every slot; each worker's BootConfig carries `worker` (its slot),
// which GenerationMetrics.boot reads; the pool's gauges return open connections per slot
// (index = slot). Only the pool calls observe(): one `reloaded`/`reload-failed` per pool
// reload (a slot's own are not passed on), a `restarting` event with `worker` for that slot.
export { DEFAULT_METRICS_HOST, type MetricsAddress, metricsAddressSchema, metricsUrl, parseMetricsAddress, METRICS_PATH } from "./address.ts";
export { MetricsEndpoint } from "./endpoint.ts";
export { GenerationMetrics } from "./generation-metrics.ts";
export { MetricsRegion } from "./region.ts";
