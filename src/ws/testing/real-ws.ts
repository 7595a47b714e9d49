// The `ws` package itself, for tests and benchmarks. Under Bun, `import "ws"` resolves to Bun's
// own reimplementation over its native WebSocket client; loading ws's files by path gets the real
// npm package (its own framing code, over Bun's node:net), a client independent of Bun's.
import { createRequire } from "node:module";
import type WsWebSocket from "ws";

const require = createRequire(import.meta.url);
const wsDir = require.resolve("ws/package.json").replace(/package\.json$/, "");

/** The npm `ws` client class (not Bun's replacement). */
export const RealWebSocket: typeof WsWebSocket = require(`${wsDir}lib/websocket.js`);

/** ws's Receiver: the same parser ws runs, for the codec benchmark. */
export const WsReceiver: new (options: { isServer: boolean; maxPayload?: number; skipUTF8Validation?: boolean }) => import("node:stream").Writable = require(`${wsDir}lib/receiver.js`);
