// Writes the app's Response (or the engine's own error answer) onto the connection: the status
// line and header section, then the body with a Content-Length when it is known, chunked (or
// close-delimited for HTTP/1.0) when it is not. Module-level functions taking the connection, so
// the write path costs one plain call and allocates nothing beyond the bytes it sends.
import { Deadline, State, type ConnectionCore as Connection } from "./connection-state.ts";
import type { RequestHead } from "./head.ts";
import { isLight, kSource, type LightResponse, NativeResponse } from "./light-response.ts";
import { dateLine, linesFromHeaders, linesFromInit, newFieldFacts } from "./response-head.ts";
import { statusLine } from "./status.ts";

/** What Bun.serve and the Fetch spec give a string body without a Content-Type. */
const TEXT_PLAIN = "content-type: text/plain;charset=utf-8\r\n";
/** Reused for every response (one at a time per process: written synchronously, read right after). */
const facts = newFieldFacts();

/** The app answered (or its promise settled): write the response, unless the request is already over. */
export function respond(conn: Connection, res: unknown): void {
  if (conn.state !== State.Handling) return;
  // Answering before the request body is complete: the rest will not be read; say so.
  if (conn.bodyCtl !== null) conn.keepAlive = false;
  try {
    if (isLight(res) && res._native === undefined) {
      if (writeLight(conn, res)) return;
      res = res._materialize();
    }
    if (!(res instanceof NativeResponse)) {
      throw new TypeError(`the app's fetch handler returned ${res === null ? "null" : typeof res}, not a Response`);
    }
    writeNative(conn, res);
  } catch (err) {
    handlerFailed(conn, err);
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
  sendSimple(conn, 500, "Internal Server Error", conn.keepAlive);
}

/** Fast path: body is a string, bytes or nothing, headers a plain record. False = take the slow path. */
function writeLight(conn: Connection, res: LightResponse): boolean {
  const init = res._init;
  const lines = linesFromInit(init?.headers as Record<string, unknown> | undefined, facts);
  if (facts.invalid || facts.wide) return false;
  const status = init?.status ?? 200;
  let head = statusLine(status, init?.statusText) + lines;
  if (!facts.hasDate) head += dateLine();
  const body = res._body;
  if (typeof body === "string" && !facts.hasContentType) head += TEXT_PLAIN;
  if (facts.close) conn.keepAlive = false;
  conn.state = State.Writing;
  writeWhole(conn, head, body, status, facts.contentLength);
  conn.finish();
  return true;
}

function writeNative(conn: Connection, res: Response): void {
  const status = res.status;
  if (!(status >= 100 && status <= 999)) throw new RangeError(`the app's Response has status ${status}, which HTTP cannot carry`);
  const lines = linesFromHeaders(res.headers, facts);
  if (facts.invalid) throw new TypeError("the app's Response has a header field that cannot be sent (e.g. a Content-Length that is not a number)");
  let head = statusLine(status, res.statusText);
  head += lines;
  if (!facts.hasDate) head += dateLine();
  if (facts.close) conn.keepAlive = false;
  const wide = facts.wide;
  const appLength = facts.contentLength;
  conn.state = State.Writing;
  // Built by us (SourceResponse) from a string or bytes and not read since: send the source.
  const src = (res as { [kSource]?: unknown })[kSource];
  if (src !== undefined && !res.bodyUsed) {
    const bytes = src === null || typeof src === "string" || src instanceof Uint8Array ? src
      : src instanceof ArrayBuffer ? new Uint8Array(src)
      : ArrayBuffer.isView(src) ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
      : undefined;
    if (bytes !== undefined) {
      // The runtime types a string body only when it sends it (Bun.serve does the same).
      if (typeof bytes === "string" && !facts.hasContentType) head += TEXT_PLAIN;
      writeWhole(conn, head, bytes as string | Uint8Array | null, status, appLength, wide);
      conn.finish();
      return;
    }
  }
  const body = res.body;
  if (body === null || conn.head!.method === "HEAD" || status === 204 || status === 304) {
    if (body !== null) body.cancel().catch(() => {});
    writeWhole(conn, head, null, status, appLength, wide);
    conn.finish();
    return;
  }
  streamBody(conn, head, body, status, wide).catch((err) => {
    console.error("liveframe: response body stream failed:", err);
    conn.keepAlive = false;
    conn.close();
  });
}

/** Head and a fully known body, in one write when it is small. */
function writeWhole(conn: Connection, head: string, body: string | Uint8Array | null, status: number, appLength: string, wide = false): void {
  const isHead = conn.head!.method === "HEAD";
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  let bodyBytes = 0;
  if (noBody) {
    body = null;
    if (status === 304 && appLength !== "") head += `content-length: ${appLength}\r\n`;
  } else if (body === null) {
    head += isHead && appLength !== "" ? `content-length: ${appLength}\r\n` : isHead ? "" : "content-length: 0\r\n";
  } else {
    bodyBytes = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    head += `content-length: ${bodyBytes}\r\n`;
    if (isHead) body = null;
  }
  head += conn.keepAlive ? (conn.head!.version === 10 ? "connection: keep-alive\r\n\r\n" : "\r\n") : "connection: close\r\n\r\n";
  if (wide) {
    const h = Buffer.from(head, "latin1");
    conn.outbox.write(h, h.byteLength);
    if (body !== null) {
      const b = typeof body === "string" ? Buffer.from(body) : body;
      conn.outbox.write(b, b.byteLength);
    }
    return;
  }
  if (body === null) conn.outbox.write(head, head.length);
  else if (typeof body === "string") conn.outbox.write(head + body, head.length + bodyBytes);
  else conn.outbox.writeHeadAndBody(head, body);
}

/**
 * A body of unknown length. Reads the first two chunks: if the stream ends there, the body is
 * sent with a Content-Length like any other; otherwise chunked (or close-delimited for HTTP/1.0),
 * waiting for the kernel to take each chunk before reading the next (backpressure).
 */
async function streamBody(conn: Connection, head: string, body: ReadableStream<unknown>, status: number, wide: boolean): Promise<void> {
  const reader = body.getReader();
  conn.reader = reader;
  const first = await reader.read();
  if (conn.state !== State.Writing) return;
  if (first.done) {
    conn.reader = null;
    writeWhole(conn, head, new Uint8Array(0), status, "", wide);
    conn.finish();
    return;
  }
  const firstBytes = toBytes(first.value);
  const second = await reader.read();
  if (conn.state !== State.Writing) return;
  if (second.done) {
    conn.reader = null;
    writeWhole(conn, head, firstBytes, status, "", wide);
    conn.finish();
    return;
  }
  const chunked = conn.head!.version === 11;
  if (!chunked) conn.keepAlive = false; // HTTP/1.0: the end of the body is the end of the connection
  head += chunked ? "transfer-encoding: chunked\r\n" : "";
  head += conn.keepAlive ? (conn.head!.version === 10 ? "connection: keep-alive\r\n\r\n" : "\r\n") : "connection: close\r\n\r\n";
  const h = Buffer.from(head, "latin1");
  conn.outbox.write(h, h.byteLength);
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
      if (conn.outbox.pending) {
        conn.setDeadline(Deadline.Drain);
        await conn.outbox.whenDrained();
        if (conn.state !== State.Writing) return;
        conn.deadline = 0;
        conn.deadlineKind = Deadline.None;
      }
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

/** A short response the engine writes itself (errors). */
function sendSimple(conn: Connection, status: number, text: string, keepAlive: boolean): void {
  conn.keepAlive = keepAlive;
  conn.state = State.Writing;
  const head = statusLine(status) + dateLine() + "content-type: text/plain;charset=UTF-8\r\n";
  writeWhole(conn, head, text, status, "");
  conn.finish();
}

/** Refuses the request in progress: answer, then close (never guess where the next one starts). */
export function reject(conn: Connection, status: number, reason: string): void {
  if (conn.state >= State.Closing) return;
  if (conn.head === null) conn.head = REJECT_HEAD; // the writer reads method and version
  conn.keepAlive = false;
  conn.state = State.Writing;
  const head = statusLine(status) + dateLine() + "content-type: text/plain;charset=UTF-8\r\n";
  writeWhole(conn, head, `${reason}\n`, status, "");
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
