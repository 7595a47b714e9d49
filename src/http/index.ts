// The HTTP/1.1 engine's public surface.
import { installResponseSource } from "./response-source.ts";

// The source-keeping Response is installed when liveframe is imported, not at the first server:
// an app module evaluated after this one (the generation imports the runtime, then the app; a
// script imports liveframe before its app) captures, extends and compares the same `Response`
// liveframe serves with (a class declared earlier extends the runtime's own Response; it works,
// but its string bodies are sent without their default Content-Type: see README).
installResponseSource();

export { createServer, serve, serveOptionsSchema, DEFAULT_PORT, DEFAULT_HOSTNAME, type ServeOptions } from "./serve.ts";
export {
  serverOptionsSchema,
  parseServerOptions,
  type ServerOptions,
  type ServerLimits,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADER_COUNT,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_PIPELINE_BYTES,
} from "./limits.ts";
export { DEFAULT_BACKLOG, DEFAULT_STOP_TIMEOUT_MS } from "./server-core.ts";
export type { FetchApp, HttpServer, ReleasedConnection, ConnectionCounts } from "./types.ts";
export { getConnInfo, type ServerEnv, type PeerAddress } from "./conninfo.ts";
