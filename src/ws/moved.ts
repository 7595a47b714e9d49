// What a WebSocket carries to the next generation besides its fd: the upgrade request it was
// opened with, what was negotiated, the bytes read but not parsed, and the value the app attached.
// One zod schema, checked when received: a bad record is an error naming the field, never a crash.
import { z } from "zod";

/** Bumped when the record changes shape; a generation refuses a version it does not know. */
export const MOVED_WEBSOCKET_VERSION = 1;

export const movedWebSocketSchema = z
  .object({
    v: z.literal(MOVED_WEBSOCKET_VERSION),
    /** The upgrade request's absolute URL. */
    url: z.string().url(),
    /** The upgrade request's header fields, in order. */
    headers: z.array(z.tuple([z.string(), z.string()])),
    /** Negotiated subprotocol, "" for none. */
    protocol: z.string(),
    /** Negotiated Sec-WebSocket-Extensions value, "" for none (the only movable kinds carry no compression context). */
    extensions: z.string(),
    /** Bytes read from the socket but not parsed, base64; they start at a frame boundary. */
    held: z.base64(),
    /** The JSON value the app attached to this WebSocket. */
    attached: z.json(),
    /** The topics it is subscribed to (ws.subscribe), absent for none. */
    topics: z.array(z.string()).optional(),
  })
  .strict();

export type MovedWebSocket = z.infer<typeof movedWebSocketSchema>;

/** Validates a record received from the previous generation; the error names the field and the peer. */
export function parseMovedWebSocket(value: unknown, from: string): MovedWebSocket {
  const r = movedWebSocketSchema.safeParse(value);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => `${i.path.join(".") || "record"}: ${i.message}`).join("; ");
  throw new Error(`invalid moved WebSocket from ${from}: ${why} (both generations must run the same liveframe version)`);
}
