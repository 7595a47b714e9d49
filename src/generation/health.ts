// GET /__liveframe/health answered by liveframe before the app sees it (with --health):
// load balancers and deploy scripts learn which generation serves, and that it does.
import type { FetchApp } from "../http/index.ts";
import { generation } from "./info.ts";

export const HEALTH_PATH = "/__liveframe/health";

/** Wraps `app` so GET HEALTH_PATH answers JSON {status, generation, pid}; everything else goes to the app. */
export function withHealth(app: FetchApp): FetchApp {
  return {
    fetch(request: Request, ...rest: unknown[]) {
      // Cheap test first: the hot path must not parse every URL.
      if (request.method === "GET" && request.url.includes(HEALTH_PATH) && new URL(request.url).pathname === HEALTH_PATH) {
        return Response.json(
          { status: "ok", generation: generation.number, pid: process.pid, adoptedConnections: generation.adoptedConnections },
          { headers: { "cache-control": "no-store" } },
        );
      }
      return app.fetch(request, ...rest);
    },
  };
}
