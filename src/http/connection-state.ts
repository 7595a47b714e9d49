// What a connection is, as the engine's parts see it: its states, its deadlines, and the fields
// the body stream and the response writer share with the state machine. A leaf module: the state
// machine (connection.ts), the body stream (body-stream.ts), the response writer
// (response-writer.ts) and the server (server-core.ts) all import it, and it imports none of them,
// so the engine has no import cycle.
import type { Socket } from "bun";
import type { BodyDecoder } from "./body.ts";
import type { RequestHead } from "./head.ts";
import { MAX_UNREAD_BODY_DRAIN_BYTES, type ServerLimits } from "./limits.ts";
import type { Outbox } from "./outbox.ts";
import type { FetchApp, ReleasedConnection } from "./types.ts";

//   Head ──head parsed──▶ Body ──body complete──▶ Handling ──Response──▶ Writing
//    ▲                                                                        │
//    └──────────── response flushed to the kernel (keep-alive) ◀── Flushing ◀─┘
export const enum State {
  Head,
  Body,
  Handling,
  Writing,
  Flushing,
  Released,
  Closing,
  Closed,
}

export const enum Deadline {
  None,
  Idle,
  Head,
  Request,
  Linger,
  /** Output is queued for a peer that does not read: how long we wait before giving up on it. */
  Drain,
}

/** The connection's shared fields and the transitions the body stream and the writer call. */
export interface ConnectionCore {
  state: State;
  /** Unconsumed input is buf[bufStart, buf.length). */
  buf: Buffer | null;
  bufStart: number;
  head: RequestHead | null;
  decoder: BodyDecoder | null;
  /** Set while a large body is streamed to the app as it arrives. */
  bodyCtl: ReadableStreamDefaultController<Uint8Array> | null;
  bodyPaused: boolean;
  keepAlive: boolean;
  readonly outbox: Outbox;
  readonly socket: Socket<any>;
  /** The response body being read (stream or file), cancelled if the connection goes away. */
  reader: { cancel(): Promise<void> } | null;
  deadline: number;
  deadlineKind: Deadline;
  requestDeadline: number;
  setDeadline(kind: Deadline): void;
  /** The response is complete: next request, or close. */
  finish(): void;
  /** Closes after every queued byte is written (FIN, never RST). */
  close(): void;
}

/** What a connection (of type C) needs from the server that accepted it. */
export interface ConnectionHost<C> {
  readonly app: FetchApp;
  readonly limits: ServerLimits;
  /** Cached clock (ms) for deadlines. */
  readonly now: number;
  /** Set while the server hands its idle connections over to another owner. */
  readonly releasing: ((c: ReleasedConnection) => void) | null;
  readonly stopped: boolean;
  /** A connection became idle at a request boundary while releasing: hand it over. */
  releaseIdle(c: C): void;
  /** The connection is closed: drop it from the server's set. */
  forget(c: C): void;
  /** Passed to app.fetch as its second argument, as Bun.serve passes its server (c.env). */
  readonly env: object;
  /** Responses completed (a draining generation reports how many finished). */
  completedCount: number;
}

/**
 * The app answers while its streamed body is still arriving: can the rest be read and dropped so
 * the connection carries the next request (as on Bun.serve)? Yes when at most
 * MAX_UNREAD_BODY_DRAIN_BYTES remain (chunked: checked while dropping it, see Connection.finish).
 */
export function unreadBodyDrainable(conn: ConnectionCore): boolean {
  const head = conn.head;
  const d = conn.decoder;
  if (head === null || d === null) return false;
  return head.chunked || head.contentLength - d.received <= MAX_UNREAD_BODY_DRAIN_BYTES;
}
