// The supervisor's side: creates the region before the first generation boots, serves
// GET /metrics on its own listener (not the app's port, so the app never exposes it, and it
// keeps answering while generations reload or crash), and records reloads and restarts from
// the supervisor's events.
import { type MetricsAddress, metricsUrl, METRICS_PATH } from "./address.ts";
import { MetricsRegion } from "./region.ts";
import { CONTENT_TYPE, type Gauges, renderMetrics } from "./text.ts";

export interface MetricsEndpointOptions {
  readonly runtimeDir: string;
  readonly address: MetricsAddress;
  /** Worker slots per generation (1 until there are workers). */
  readonly slots?: number;
  readonly gauges: () => Gauges;
}

/** The event fields this reads (SupervisorEvent, without importing the layer above). */
interface EventLike {
  readonly type: string;
  readonly [detail: string]: unknown;
}

export class MetricsEndpoint {
  /** What a generation opens the region by (/proc/<supervisor pid>/fd/<fd>: the file has no other name). */
  readonly file: string;
  readonly url: string;
  /** Once closed the region is unmapped: nothing may touch it (a touch would be a SIGSEGV, not an error). */
  private closed = false;

  private constructor(
    private readonly region: MetricsRegion,
    private readonly server: ReturnType<typeof Bun.serve>,
    private readonly gauges: () => Gauges,
    file: string,
    address: MetricsAddress,
  ) {
    this.file = file;
    this.url = metricsUrl({ host: address.host, port: server.port ?? address.port });
  }

  /** Creates the region and binds the listener; throws an Error naming the address and what to do. */
  static start(o: MetricsEndpointOptions): MetricsEndpoint {
    const region = MetricsRegion.createUnlinked(o.runtimeDir, o.slots ?? 1);
    const file = region.sharedPath;
    let endpoint: MetricsEndpoint | undefined;
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({
        hostname: o.address.host,
        port: o.address.port,
        fetch: (request) => endpoint?.answer(request) ?? new Response("starting\n", { status: 503 }),
      });
    } catch (err) {
      region.close();
      const code = (err as { code?: string }).code;
      const where = `${o.address.host.includes(":") ? `[${o.address.host}]` : o.address.host}:${o.address.port}`;
      const why =
        code === "EADDRINUSE"
          ? `${where} is in use by another process (EADDRINUSE)`
          : code === "EADDRNOTAVAIL"
            ? `${o.address.host} is not an address of this host (EADDRNOTAVAIL)`
            : code === "EACCES"
              ? `binding port ${o.address.port} is not permitted (EACCES)`
              : `${(err as Error).message}${code ? ` (${code})` : ""}`;
      throw new Error(`cannot serve metrics on ${where}: ${why}: pick another address with --metrics`);
    }
    endpoint = new MetricsEndpoint(region, server, o.gauges, file, o.address);
    return endpoint;
  }

  private answer(request: Request): Response {
    if (this.closed) return new Response("stopping\n", { status: 503 });
    const path = new URL(request.url).pathname;
    if (path !== METRICS_PATH) return new Response(`liveframe metrics are at ${METRICS_PATH}\n`, { status: 404 });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("only GET and HEAD\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(this.scrape(), { headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store" } });
  }

  /** The exposition now; lanes of processes gone are folded first (totals do not change by it). */
  scrape(): string {
    this.region.foldLanes((pid) => !isAlive(pid));
    return renderMetrics(this.region.totals(), this.gauges());
  }

  /** Sees every supervisor event: reloads, restart attempts, and exits (whose lanes are folded). Events are rare: a sweep of the lanes costs nothing here. */
  observe(e: EventLike): void {
    if (this.closed) return;
    switch (e.type) {
      case "reloaded":
      case "reload-failed": {
        if (e.refused) return; // asked for while another reload ran: none happened
        const totalMs = (e.outcome as { totalMs?: unknown } | undefined)?.totalMs;
        this.region.recordReload(e.type === "reloaded", typeof totalMs === "number" ? totalMs / 1000 : 0);
        return;
      }
      case "restarting":
        this.region.recordRestart(typeof e.worker === "number" ? e.worker : 0);
        this.region.foldLanes((pid) => !isAlive(pid));
        return;
      case "generation-exited":
        this.region.foldLanes((pid) => pid === e.pid || !isAlive(pid));
        return;
      case "reloading":
        // A generation is about to claim a lane: free those of processes gone unnoticed (a
        // standby that died after its boot, say), so lanes never run out without scrapes.
        this.region.foldLanes((pid) => !isAlive(pid));
        return;
    }
  }

  /** Stops the listener and closes the region (generations that still map it keep their mapping). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.server.stop(true);
    this.region.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}
