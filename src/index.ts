// liveframe's library entry: what app authors and scripts import from "liveframe".
// Each layer adds its public names here.
// engine layer (HTTP/1.1)
export {
  serve,
  createServer,
  serverOptionsSchema,
  serveOptionsSchema,
  type FetchApp,
  type HttpServer,
  type ReleasedConnection,
  type ConnectionCounts,
  type ServerOptions,
  type ServeOptions,
  getConnInfo,
  type ServerEnv,
  type PeerAddress,
} from "./http/index.ts";
// WebSockets (hono/bun's upgradeWebSocket, served by the engine)
export { upgradeWebSocket, WebSocketOpenEvent, LiveServerWebSocket, type LiveWebSocketData, type WebSocketHandlers, type WebSocketOptions } from "./ws/index.ts";
export type { WebSocketServeOptions } from "./http/ws-link.ts";
// reload layer
export { generation, type GenerationInfo } from "./generation/info.ts";
// state layer
export {
  defineState,
  syncAllStates,
  stateFile,
  StateSchemaError,
  RegionRefusedError,
  StateLockTimeoutError,
  type State,
  type StateOptions,
  type StateInfo,
  type StateMethods,
  type NumberView,
  type BigIntView,
  type ValueView,
  type ArrayView,
  type ObjectView,
  type ViewOf,
} from "./state/index.ts";
// cli: the shape of liveframe.config.ts (type only: nothing of the CLI is loaded by apps)
export type { LiveframeConfig } from "./cli/config.ts";
