// Limits and timeouts of the WebSocket engine: one named default each, with the reason and the
// source beside it. Where Bun.serve has the same knob, the default is Bun's, so an app moved from
// Bun.serve to liveframe sees the same behaviour.
import { z } from "zod";

/** Largest message (all fragments together), in bytes; 1009 beyond. 16 MiB: Bun.serve's `maxPayloadLength` default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/**
 * Bytes queued for a slow client before `send` drops a message (send returns 0), as Bun.serve does
 * with `closeOnBackpressureLimit: false`. 16 MiB: Bun.serve's `backpressureLimit` default.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Without a byte from the client for this long the server sends a ping. 120 s: Bun.serve's
 * `idleTimeout` default for WebSockets, and below the 5-minute idle cut of common NATs and proxies.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/**
 * After the idle ping, a client that still sends nothing (not even the pong it owes) for this
 * long is gone: the connection is closed with 1001. 30 s: a pong crosses any live path far sooner,
 * and a phone waking from sleep gets time to answer.
 */
export const DEFAULT_PONG_TIMEOUT_MS = 30_000;
/**
 * After the server sent its close frame, how long it waits for the client's before ending the TCP
 * connection anyway (RFC 6455 §7.1.1: the server closes TCP first). 5 s: the keep-alive timeout
 * of the HTTP engine; a live client answers within a round trip.
 */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/**
 * Bytes a session holds unparsed while it is frozen for a move (parsing stops at a message
 * boundary; later bytes wait for the next generation). 1 MiB: the engine pauses reading beyond it,
 * so a client cannot grow the handoff without bound.
 */
export const DEFAULT_MAX_HELD_BYTES = 1024 * 1024;

/**
 * The WebSocket options a user passes (the engine's `websocket` option at integration), checked
 * with zod like the HTTP limits: a wrong option names itself and says what to do.
 */
export const webSocketOptionsSchema = z
  .object({
    /** Largest message, bytes (1009 beyond). Default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
    maxMessageBytes: positiveInt("maxMessageBytes").default(DEFAULT_MAX_MESSAGE_BYTES),
    /** Bytes queued for a slow client before send() drops messages. Default {@link DEFAULT_MAX_BUFFERED_BYTES}. */
    maxBufferedBytes: positiveInt("maxBufferedBytes").default(DEFAULT_MAX_BUFFERED_BYTES),
    /** Silence before the idle ping, ms. Default {@link DEFAULT_IDLE_TIMEOUT_MS}. */
    idleTimeoutMs: positiveInt("idleTimeoutMs").default(DEFAULT_IDLE_TIMEOUT_MS),
    /** Wait for any byte after the idle ping, ms (then 1001). Default {@link DEFAULT_PONG_TIMEOUT_MS}. */
    pongTimeoutMs: positiveInt("pongTimeoutMs").default(DEFAULT_PONG_TIMEOUT_MS),
    /** Wait for the client's close frame, ms. Default {@link DEFAULT_CLOSE_TIMEOUT_MS}. */
    closeTimeoutMs: positiveInt("closeTimeoutMs").default(DEFAULT_CLOSE_TIMEOUT_MS),
    /** Ping idle clients (true, Bun's default) or close them at once (false). */
    sendPings: z.boolean({ error: "sendPings must be true or false" }).default(true),
    /** Unparsed bytes held per WebSocket while it moves. Default {@link DEFAULT_MAX_HELD_BYTES}. */
    maxHeldBytes: positiveInt("maxHeldBytes").default(DEFAULT_MAX_HELD_BYTES),
    /** permessage-deflate without context takeover (the kind that can move), off by default as in Bun.serve. */
    perMessageDeflate: z.boolean({ error: "perMessageDeflate must be true or false" }).default(false),
  })
  .strict();

export type WebSocketOptions = z.input<typeof webSocketOptionsSchema>;
export type WebSocketLimits = z.output<typeof webSocketOptionsSchema>;

/** Validates WebSocket options, throwing an Error that names each wrong option and says what to do. */
export function parseWebSocketOptions(options: unknown, what = "websocket options"): WebSocketLimits {
  const result = webSocketOptionsSchema.safeParse(options ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const path = i.path.join(".");
    if (i.code === "unrecognized_keys") return `unknown option ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new Error(`invalid ${what}: ${problems.join("; ")} (see webSocketOptionsSchema for every option and its default)`);
}

function positiveInt(what: string) {
  return z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be greater than 0`);
}
