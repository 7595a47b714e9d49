// The client's address, the two ways a Hono app asks for it:
//   - hono/bun's getConnInfo(c) calls `c.env.requestIP(c.req.raw)`, because Bun.serve passes its
//     server as the second argument of fetch. The engine passes a ServerEnv there (below), so
//     that helper works unchanged.
//   - liveframe's own getConnInfo(c) returns the same ConnInfo, and also works under Bun.serve.
// The address is read once, when the connection is opened (accepted, or adopted from the previous
// generation: Bun reads it from the fd with getpeername(2)), so it stays known after the client
// has gone.
import type { Socket } from "bun";
import type { ConnInfo } from "hono/conninfo";
import { getPeerName } from "../../ffi/index.ts";
import { LiveRequest } from "./request.ts";
import { upgradeRequest } from "./ws-link.ts";
import type { Topics } from "../ws/topics.ts";

/** What Bun's `server.requestIP(request)` returns (Bun's SocketAddress). */
export interface PeerAddress {
  /** "127.0.0.1", "::1", or "::ffff:127.0.0.1" for an IPv4 client on a dual-stack ("::") listener. */
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

/** The peer of a newly opened socket, or null if it is already gone (a reset before open). */
export function peerOf(socket: Socket<any>): PeerAddress | null {
  const s = socket as unknown as { remoteAddress?: string; remoteFamily?: "IPv4" | "IPv6"; remotePort?: number; fd?: number };
  if (s.remoteAddress) return { address: s.remoteAddress, family: s.remoteFamily === "IPv4" ? "IPv4" : "IPv6", port: s.remotePort ?? 0 };
  try {
    const p = getPeerName(s.fd ?? -1);
    if (p.family === "IPv4" || p.family === "IPv6") return { address: p.address, family: p.family, port: p.port };
  } catch {
    // not connected any more: nothing to report, as Bun.serve reports nothing
  }
  return null;
}

/**
 * The second argument the engine passes to `app.fetch(request, env)`: the part of Bun.serve's
 * Server object that apps reach through `c.env`. Nothing else of Bun's Server is offered; see
 * README "Writing an app".
 */
export interface ServerEnv {
  /** The client's address for a request this server received, else null (as Bun's server.requestIP). */
  requestIP(request: Request): PeerAddress | null;
  /**
   * Bun's per-request idle timeout (apps call `timeout(req, 0)` before a long SSE stream). The
   * engine has no idle timeout while a response is being written, so there is nothing to change:
   * accepted and ignored.
   */
  timeout(request: Request, seconds: number): void;
  /**
   * Upgrades the request being served to a WebSocket, as Bun's server.upgrade: true when it is
   * an acceptable WebSocket upgrade not upgraded yet (the Response the app returns is then
   * ignored), false otherwise. hono's upgradeWebSocket (from "liveframe") calls it.
   */
  upgrade(request: Request, options?: { data?: unknown; headers?: Record<string, string> | Headers }): boolean;
  /** Sends to every WebSocket subscribed to `topic` in this process (Bun's server.publish). */
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number;
  /** How many WebSockets of this process are subscribed to `topic` (Bun's server.subscriberCount). */
  subscriberCount(topic: string): number;
}

export function createServerEnv(topics: Topics | null = null): ServerEnv {
  return {
    requestIP(request: Request): PeerAddress | null {
      if (!(request instanceof LiveRequest)) return null;
      const p = request._peer;
      return p === null ? null : { address: p.address, family: p.family, port: p.port };
    },
    timeout(_request: Request, _seconds: number): void {},
    upgrade: upgradeRequest,
    publish: (topic, data, compress) => topics?.publish(String(topic), data, compress) ?? 0,
    subscriberCount: (topic) => topics?.count(String(topic)) ?? 0,
  };
}

/** The request's server, the way hono/bun finds it: `c.env.server` if present, else `c.env`. */
function serverOf(env: unknown): { requestIP?: unknown } | null {
  if (env === null || typeof env !== "object") return null;
  return ("server" in env ? (env as { server: unknown }).server : env) as { requestIP?: unknown } | null;
}

/**
 * The client's address in Hono's ConnInfo shape, exactly as hono/bun's getConnInfo builds it
 * (`{ remote: { address, addressType, port } }`, `{ remote: {} }` when unknown). Works on
 * liveframe and under Bun.serve; unlike hono/bun's, it never throws.
 *
 * ```ts
 * import { getConnInfo } from "liveframe";
 * app.get("/", (c) => c.text(getConnInfo(c).remote.address ?? "unknown"));
 * ```
 */
export function getConnInfo(c: { req: { raw: Request }; env?: unknown }): ConnInfo {
  const raw = c.req.raw;
  let info: PeerAddress | null | undefined = null;
  if (raw instanceof LiveRequest) info = raw._peer;
  else {
    const server = serverOf(c.env);
    if (server !== null && typeof server.requestIP === "function") info = (server.requestIP as (r: Request) => PeerAddress | null)(raw);
  }
  if (!info) return { remote: {} };
  return {
    remote: {
      address: info.address,
      addressType: info.family === "IPv6" || info.family === "IPv4" ? info.family : undefined,
      port: info.port,
    },
  };
}
