// A request body handed to the app as a stream while it is still arriving (large or chunked
// bodies): decoded bytes go into the stream, the socket pauses while the app reads slower than the
// client sends (backpressure), and the stream errors if the body can never complete. The stream's
// controller lives on the Connection (`bodyCtl`) so the state machine can see a body in flight.
import type { BodyDecoder } from "./body.ts";
import { Deadline, State, type ConnectionCore as Connection } from "./connection-state.ts";
import { HttpError } from "./errors.ts";
import { reject } from "./response-writer.ts";

/**
 * A body larger than this (or chunked) that has not fully arrived with its head is streamed to
 * the app as it arrives, with backpressure; smaller ones are collected first (cheaper).
 */
export const STREAM_BODY_BYTES = 64 * 1024;

/** From now on decoded body bytes go to a stream the app reads; returns that stream. */
export function startBodyStream(conn: Connection, d: BodyDecoder): ReadableStream<Uint8Array> {
  const stream = new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        conn.bodyCtl = ctl;
        for (const part of d.takeParts()) ctl.enqueue(part);
      },
      pull() {
        if (conn.bodyPaused && conn.bodyCtl !== null) {
          conn.bodyPaused = false;
          conn.socket.resume();
        }
      },
      cancel() {
        // The app does not want the rest: keep decoding it (to find the next request) but drop it.
        d.sink = () => {};
      },
    },
    { highWaterMark: STREAM_BODY_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
  );
  d.sink = (chunk) => {
    const ctl = conn.bodyCtl;
    if (ctl === null) return;
    try {
      ctl.enqueue(chunk);
    } catch {
      // cancelled or errored meanwhile: drop
    }
  };
  return stream;
}

/** New bytes while the app is already running: decode them into its body stream. */
export function feedBodyStream(conn: Connection): void {
  const d = conn.decoder!;
  const b = conn.buf!;
  try {
    conn.bufStart = d.feed(b, conn.bufStart, b.length);
  } catch (err) {
    const status = err instanceof HttpError ? err.status : 400;
    const message = err instanceof Error ? err.message : String(err);
    failBodyStream(conn, err instanceof Error ? err : new Error(message));
    if (conn.state === State.Handling) reject(conn, status, message);
    else conn.close();
    return;
  }
  const ctl = conn.bodyCtl!;
  if (d.done) {
    conn.bodyCtl = null;
    conn.deadline = 0;
    conn.deadlineKind = Deadline.None;
    conn.requestDeadline = 0;
    if (conn.bodyPaused) {
      conn.bodyPaused = false;
      conn.socket.resume();
    }
    try {
      ctl.close();
    } catch {
      // cancelled by the app
    }
  } else if ((ctl.desiredSize ?? 1) <= 0 && !conn.bodyPaused) {
    // The app reads slower than the client sends: stop reading until it pulls (backpressure).
    conn.bodyPaused = true;
    conn.socket.pause();
  }
}

/** The body can never complete (client left, timeout, answered early): error the app's stream. */
export function failBodyStream(conn: Connection, err: Error): void {
  const ctl = conn.bodyCtl;
  if (ctl === null) return;
  conn.bodyCtl = null;
  try {
    ctl.error(err);
  } catch {
    // already closed or errored
  }
}
