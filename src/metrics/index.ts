// Prometheus metrics that survive reloads and restarts: counters in a shared region (region.ts),
// counted by each generation (generation-metrics.ts), served by the supervisor (endpoint.ts).
export { DEFAULT_METRICS_HOST, type MetricsAddress, metricsAddressSchema, metricsUrl, parseMetricsAddress, METRICS_PATH } from "./address.ts";
export { MetricsEndpoint } from "./endpoint.ts";
export { GenerationMetrics } from "./generation-metrics.ts";
export { MetricsRegion } from "./region.ts";
