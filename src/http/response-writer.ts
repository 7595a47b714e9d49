// Writes the app's Response (or the engine's own error answer) onto the connection. What to send
// is decided by planResponse (response-encoding.ts, a pure function); this file only moves the
// bytes: a whole body in one write when it is small, a Blob or Bun.file in bounded slices with
// backpressure (never read whole into memory), a stream chunk by chunk.
import { Deadline, State, unreadBodyDrainable, type ConnectionCore as Connection } from "./connection-state.ts";
import type { RequestHead } from "./head.ts";
import { BodyKind, completeHead, connectionLine, planResponse, type ResponsePlan } from "./response-encoding.ts";
import { dateLine } from "./response-head.ts";
import { NativeResponse } from "./response-source.ts";
import { statusLine } from "./status.ts";
import { blobName, isBunFile } from "./file-body.ts";
import { closeSync, openSync, readSync } from "node:fs";
import { sendFile } from "../../ffi/index.ts";

/**
 * A Blob or file body is read and written this many bytes at a time: the most of it held in
 * memory per connection (plus what the kernel buffers). 256 KiB: large enough that a read costs
 * far less than sending it, small enough that 1,000 connections downloading hold 256 MiB at most.
 */
export const BLOB_SLICE_BYTES = 256 * 1024;

/** The app answered (or its promise settled): write the response, unless the request is already over. */
export function respond(conn: Connection, res: unknown): void {
  if (conn.state !== State.Handling) return;
  // Answering before the request body is complete: the rest is dropped if it is small enough
  // (see unreadBodyDrainable), else the connection closes after this answer; say so.
  if (conn.bodyCtl !== null && !unreadBodyDrainable(conn)) conn.keepAlive = false;
  let p: ResponsePlan;
  try {
    if (!(res instanceof NativeResponse)) {
      throw new TypeError(`the app's fetch handler returned ${res === null ? "null" : typeof res}, not a Response`);
    }
    p = planResponse(res, conn.head!, conn.keepAlive);
  } catch (err) {
    handlerFailed(conn, err);
    return;
  }
  conn.keepAlive = p.keepAlive;
  const body = p.body;
  switch (body.kind) {
    case BodyKind.None:
      if (body.unread !== null) body.unread.cancel().catch(() => {});
      conn.state = State.Writing;
      writeHead(conn, p.head, p.wide);
      conn.finish();
      return;
    case BodyKind.Whole:
      conn.state = State.Writing;
      writeWhole(conn, p.head, p.wide, body.data, body.length);
      conn.finish();
      return;
    case BodyKind.Blob:
      sendBlob(conn, p, body.blob, body.start, body.end).catch((err) => bodyFailed(conn, err));
      return;
    case BodyKind.Stream:
      conn.state = State.Writing;
      streamBody(conn, p, body.stream).catch((err) => bodyFailed(conn, err));
      return;
  }
}

/** The app's handler threw or gave something unsendable: a 500 if nothing is written yet, else close. */
export function handlerFailed(conn: Connection, err: unknown): void {
  if (conn.state === State.Writing) {
    console.error("liveframe: writing the response failed:", err);
    conn.close();
    return;
  }
  if (conn.state !== State.Handling) return;
  console.error("liveframe: the app's fetch handler threw:", err);
  sendSimple(conn, 500, SERVER_ERROR_TEXT, conn.keepAlive, SERVER_ERROR_TYPE);
}

function bodyFailed(conn: Connection, err: unknown): void {
  if (conn.state === State.Handling) {
    handlerFailed(conn, err); // nothing written yet (a file that cannot be read): 500
    return;
  }
  console.error("liveframe: response body failed:", err);
  conn.keepAlive = false;
  conn.close();
}

function writeHead(conn: Connection, head: string, wide: boolean): void {
  if (wide) {
    const h = Buffer.from(head, "latin1");
    conn.outbox.write(h, h.byteLength);
  } else conn.outbox.write(head, head.length);
}

/** Head and a fully known body, in one write when it is small. */
function writeWhole(conn: Connection, head: string, wide: boolean, body: string | Uint8Array, length: number): void {
  if (wide) {
    writeHead(conn, head, true);
    const b = typeof body === "string" ? Buffer.from(body) : body;
    conn.outbox.write(b, b.byteLength);
  } else if (typeof body === "string") conn.outbox.write(head + body, head.length + length);
  else conn.outbox.writeHeadAndBody(head, body);
}

/** Waits until the kernel took every queued byte; false if the response was abandoned meanwhile. */
async function drained(conn: Connection): Promise<boolean> {
  if (!conn.outbox.pending) return true;
  conn.setDeadline(Deadline.Drain);
  await conn.outbox.whenDrained();
  if (conn.state !== State.Writing) return false;
  conn.deadline = 0;
  conn.deadlineKind = Deadline.None;
  return true;
}

/**
 * Bytes [start, end) of a Blob or Bun.file. A file goes out with sendfile(2) (see sendFileBody);
 * a Blob (in memory) one bounded slice at a time, each written once the kernel took the previous
 * one. The file is opened (the first Blob slice read) before anything is written, so a file that
 * cannot be read is still a 500.
 */
async function sendBlob(conn: Connection, p: ResponsePlan, blob: Blob, start: number, end: number): Promise<void> {
  let cancelled = false;
  conn.reader = {
    cancel: async () => {
      cancelled = true;
    },
  };
  const sockFd = (conn.socket as unknown as { fd?: number }).fd;
  if (isBunFile(blob) && typeof sockFd === "number" && sockFd >= 0) {
    // Opened (and, when the socket is full, read) synchronously, as Bun.serve does: a file
    // small enough for the socket buffer is answered without leaving this tick.
    const fd = openSync(blobName(blob), "r");
    try {
      if (cancelled || conn.state !== State.Handling) return;
      conn.state = State.Writing;
      writeHead(conn, p.head, p.wide);
      if (!(await sendFileBody(conn, fd, sockFd, start, end))) return;
    } finally {
      closeSync(fd);
    }
    conn.reader = null;
    conn.finish();
    return;
  }
  let at = start;
  let first = true;
  while (first || at < end) {
    const n = Math.min(BLOB_SLICE_BYTES, end - at);
    const bytes = n > 0 ? await blob.slice(at, at + n).bytes() : EMPTY;
    if (cancelled || conn.state >= State.Closing) return;
    if (bytes.byteLength !== n) throw new Error(`the response's Blob gave ${bytes.byteLength} of ${n} bytes at offset ${at}`);
    if (first) {
      first = false;
      if (conn.state !== State.Handling) return;
      conn.state = State.Writing;
      if (p.wide) {
        writeHead(conn, p.head, true);
        if (n > 0) conn.outbox.write(bytes, n);
      } else if (n > 0) conn.outbox.writeHeadAndBody(p.head, bytes);
      else conn.outbox.write(p.head, p.head.length);
    } else conn.outbox.write(bytes, n);
    at += n;
    if (at < end && !(await drained(conn))) return;
  }
  conn.reader = null;
  conn.finish();
}

/**
 * sendfile(2) while the socket takes it, only when every earlier byte reached the kernel (Bun's
 * socket.write keeps nothing back, and our queue is empty then, so the order on the wire holds).
 * When the socket is full, one slice is read and handed to the outbox instead: Bun then waits for
 * the socket to become writable and says so (drain), and sendfile resumes. False: abandoned.
 */
async function sendFileBody(conn: Connection, fileFd: number, sockFd: number, start: number, end: number): Promise<boolean> {
  let wake: Buffer | null = null;
  let at = start;
  while (at < end) {
    conn.outbox.flushCork();
    if (conn.outbox.pending) {
      if (!(await drained(conn))) return false;
      continue;
    }
    const n = sendFile(sockFd, fileFd, at, Math.min(end - at, SENDFILE_MAX_BYTES));
    if (n > 0) {
      at += n;
      continue;
    }
    if (n === 0) throw new Error(`the response's file ended at byte ${at}, before the ${end} announced (it changed while sent)`);
    const k = Math.min(WAKE_SLICE_BYTES, end - at);
    wake ??= Buffer.allocUnsafe(WAKE_SLICE_BYTES);
    const bytesRead = readSync(fileFd, wake, 0, k, at);
    if (bytesRead !== k) throw new Error(`the response's file ended at byte ${at + bytesRead}, before the ${end} announced (it changed while sent)`);
    conn.outbox.write(wake.subarray(0, k), k);
    at += k;
    // `wake` is reused only after the kernel took it: drained() before the next read.
    if (!(await drained(conn))) return false;
  }
  return true;
}

/**
 * When the socket is full, this much of the file goes through the outbox instead, only so that
 * Bun waits for writability and reports it: small, because these bytes are copied through JS.
 */
const WAKE_SLICE_BYTES = 16 * 1024;

/** One sendfile(2) call sends at most this much: bounds the time one connection holds the loop. */
const SENDFILE_MAX_BYTES = 4 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

/**
 * A body of unknown length. Reads the first two chunks: if the stream ends there, the body is
 * sent with a Content-Length like any other; otherwise chunked (or close-delimited for HTTP/1.0),
 * waiting for the kernel to take each chunk before reading the next (backpressure).
 */
async function streamBody(conn: Connection, p: ResponsePlan, body: ReadableStream<unknown>): Promise<void> {
  const reader = body.getReader();
  conn.reader = reader;
  const version = conn.head!.version;
  const first = await reader.read();
  if (conn.state !== State.Writing) return;
  if (first.done) {
    conn.reader = null;
    const done = completeHead(p, 0, version);
    conn.keepAlive = done.keepAlive;
    writeHead(conn, done.head, p.wide);
    conn.finish();
    return;
  }
  const firstBytes = toBytes(first.value);
  const second = await reader.read();
  if (conn.state !== State.Writing) return;
  if (second.done) {
    conn.reader = null;
    const done = completeHead(p, firstBytes.byteLength, version);
    conn.keepAlive = done.keepAlive;
    writeWhole(conn, done.head, p.wide, firstBytes, firstBytes.byteLength);
    conn.finish();
    return;
  }
  const done = completeHead(p, -1, version);
  conn.keepAlive = done.keepAlive;
  const chunked = done.chunked;
  writeHead(conn, done.head, p.wide);
  let chunk: Uint8Array | null = firstBytes;
  let next: { done?: boolean; value?: unknown } = second;
  for (;;) {
    if (chunk !== null && chunk.byteLength > 0) {
      if (chunked) {
        const size = `${chunk.byteLength.toString(16)}\r\n`;
        conn.outbox.write(size, size.length);
      }
      conn.outbox.write(chunk, chunk.byteLength);
      if (chunked) conn.outbox.write("\r\n", 2);
      if (!(await drained(conn))) return;
    }
    if (next.done) break;
    chunk = toBytes(next.value);
    next = await reader.read();
    if (conn.state !== State.Writing) return;
  }
  conn.reader = null;
  if (chunked) conn.outbox.write("0\r\n\r\n", 5);
  conn.finish();
}

/** A short plain-text answer the engine writes itself (errors). */
function simpleHead(conn: Connection, status: number, text: string, type = "text/plain;charset=UTF-8"): string {
  const bodyless = conn.head?.method === "HEAD";
  return statusLine(status) + dateLine() + `content-type: ${type}\r\n` +
    `content-length: ${Buffer.byteLength(text)}\r\n` + connectionLine(conn.keepAlive, conn.head?.version ?? 11) + (bodyless ? "" : text);
}

// The 500 for a handler that threw (or gave an unsendable Response): Bun.serve's own words and
// Content-Type in production (measured on 1.4.5; its development mode sends an HTML error page).
const SERVER_ERROR_TEXT = "Something went wrong!";
const SERVER_ERROR_TYPE = "text/plain";

function sendSimple(conn: Connection, status: number, text: string, keepAlive: boolean, type?: string): void {
  conn.keepAlive = keepAlive;
  conn.state = State.Writing;
  const out = simpleHead(conn, status, text, type);
  conn.outbox.write(out, Buffer.byteLength(out));
  conn.finish();
}

/** Refuses the request in progress: answer, then close (never guess where the next one starts). */
export function reject(conn: Connection, status: number, reason: string): void {
  if (conn.state >= State.Closing) return;
  if (conn.head === null) conn.head = REJECT_HEAD; // the writer reads method and version
  conn.keepAlive = false;
  conn.state = State.Writing;
  const out = simpleHead(conn, status, `${reason}\n`);
  conn.outbox.write(out, Buffer.byteLength(out));
  conn.close();
}

const REJECT_HEAD: RequestHead = {
  method: "GET", target: "/", path: "/", host: "localhost", version: 11, buf: Buffer.alloc(0), fieldOffsets: [],
  contentLength: -1, chunked: false, keepAlive: false, expectContinue: false,
};

function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return Buffer.from(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError("response body stream yielded a value that is not bytes or a string");
}
