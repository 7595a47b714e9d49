// liveframe serve() on PORT with request metrics on, as a generation counts them (the app
// wrapped by src/metrics instrument(), counting in a lane of a region in a temp dir); prints
// "ready <port>". Compared with server-liveframe.ts in the same run: `bench/run.ts http --metrics on`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../../src/http/index.ts";
import { GenerationMetrics, MetricsRegion } from "../../src/metrics/index.ts";
import { benchApp } from "./app.mjs";

const dir = mkdtempSync(join(tmpdir(), "lf-bench-metrics-"));
const file = join(dir, "metrics.bin");
MetricsRegion.create(file);
const metrics = new GenerationMetrics(process.pid, (line) => console.error(line));
metrics.boot({ metricsFile: file, generation: 1 });
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
process.on("SIGTERM", () => process.exit(0));
const server = serve(metrics.instrument(benchApp()), { port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" });
console.log(`ready ${server.port}`);
