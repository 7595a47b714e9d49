// The two ways to get a server: createServer (no listener yet: the handoff layer gives it fds)
// and serve (createServer + a listener, for scripts and `bun app.ts`).
import { z } from "zod";
import { serverOptionsSchema, type ServerOptions } from "./limits.ts";
import { DEFAULT_BACKLOG, ServerCore } from "./server-core.ts";
import type { FetchApp, HttpServer } from "./types.ts";
import type { WebSocketServeOptions } from "./ws-link.ts";

/** Port when none is given: Bun.serve's and Hono's conventional default. */
export const DEFAULT_PORT = 3000;
/** Hostname when none is given: every IPv4 interface, like Bun.serve. */
export const DEFAULT_HOSTNAME = "0.0.0.0";

export const serveOptionsSchema = serverOptionsSchema.extend({
  port: z.number().int("port must be a whole number").min(0, "port must be 0–65535").max(65535, "port must be 0–65535").default(DEFAULT_PORT),
  hostname: z.string().min(1, "hostname must not be empty").default(DEFAULT_HOSTNAME),
  backlog: z.number().int().positive("backlog must be greater than 0").default(DEFAULT_BACKLOG),
  /** Serve on this already-listening fd instead of binding port/hostname. */
  fd: z.number().int().min(0, "fd must be a file descriptor (≥ 0)").optional(),
});
/**
 * `websocket`: Bun.serve's option of that name (open/message/close/drain and WebSocketOptions).
 * Optional: without it, WebSockets opened by upgradeWebSocket from "liveframe" are served.
 */
export type ServeOptions = z.input<typeof serveOptionsSchema> & { websocket?: WebSocketServeOptions };

/** A server with no listener yet. */
export function createServer(app: FetchApp, options?: ServerOptions & { websocket?: WebSocketServeOptions }): HttpServer {
  return new ServerCore(app, options);
}

/** createServer + listen: on `fd` if given, else on hostname:port. */
export function serve(app: FetchApp, options?: ServeOptions): HttpServer {
  const { websocket, ...httpOptions } = options ?? {};
  const parsed = serveOptionsSchema.safeParse(httpOptions);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === "unrecognized_keys" ? `unknown option ${i.keys.map((k) => `"${k}"`).join(", ")}` : `${i.path.join(".")}: ${i.message}`,
    );
    throw new Error(`invalid serve options: ${problems.join("; ")}`);
  }
  const { port, hostname, backlog, fd, ...limits } = parsed.data;
  const server = new ServerCore(app, { ...limits, websocket });
  if (fd !== undefined) server.listen(fd);
  else server.listenOn({ port, hostname, backlog });
  return server;
}
