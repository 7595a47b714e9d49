// Response encoding as a pure function: the app's Response and the request head in, the bytes of
// the response head, what body to send after it and whether the connection stays open out. No
// socket, no connection state: unit-tested in response-encoding.test.ts.
//
// It follows what Bun.serve sends (measured, see test/http-fidelity.test.ts), not only the spec:
// - a string body with no Content-Type gets `text/plain;charset=utf-8`, bytes (and a body taken
//   from another Response's stream) `application/octet-stream`, an empty body neither, a stream
//   none; Blob, Bun.file, URLSearchParams and FormData types are in the Response's own headers;
// - the runtime owns framing: Content-Length is the body's real length whatever the app set, a
//   null body is `content-length: 0`, except HEAD (the app's Content-Length if it set one) and
//   304 (the app's, echoed); HEAD gets the length of the body it would have had, and
//   `transfer-encoding: chunked` for a stream, and no default Content-Type;
// - a Bun.file body honours a single `Range` (GET, status 200, no If-Range): 206 with
//   Content-Range, 416 with `Content-Range: bytes */size`; Blob and file bodies name the file in
//   a Content-Disposition for types a browser does not display (see file-body.ts).
import type { RequestHead } from "./head.ts";
import { blobName, dispositionLine, isBunFile, namesFileFor, parseRange } from "./file-body.ts";
import { dateLine, headersAre, linesFromFields, linesFromHeaders, newFieldFacts, type FieldFacts } from "./response-head.ts";
import { NativeResponse, sourceOf } from "./response-source.ts";
import { statusLine } from "./status.ts";

const TEXT_PLAIN = "content-type: text/plain;charset=utf-8\r\n";
const OCTET_STREAM = "content-type: application/octet-stream\r\n";
const CHUNKED = "transfer-encoding: chunked\r\n";

export const enum BodyKind {
  /** Nothing follows the head. */
  None,
  /** `data` follows the head, whole. */
  Whole,
  /** Bytes [start, end) of `blob`, read in bounded slices. */
  Blob,
  /** `stream`: length unknown, decided while reading it (see response-writer.ts). */
  Stream,
}

export type BodyPlan =
  | { kind: BodyKind.None; unread: ReadableStream<unknown> | null }
  | { kind: BodyKind.Whole; data: string | Uint8Array; length: number }
  | { kind: BodyKind.Blob; blob: Blob; start: number; end: number }
  | { kind: BodyKind.Stream; stream: ReadableStream<unknown> };

export interface ResponsePlan {
  /**
   * The head: status line, fields, framing, Connection and the final CRLF. For a Stream body it
   * stops before the framing (see completeHead), because the framing depends on the stream.
   */
  head: string;
  /** A field value has a non-ASCII (latin1) character: write the head as latin1 bytes. */
  wide: boolean;
  keepAlive: boolean;
  body: BodyPlan;
}

/** What encoding needs to know about the request. */
export type RequestFacts = Pick<RequestHead, "method" | "version" | "buf" | "fieldOffsets">;

// The runtime's own getters, called on the app's Response: what it holds, as Bun.serve reads it,
// even when a subclass overrides `status` or `headers` (measured: as fast as the property).
function nativeGetter<T>(key: string): (this: Response) => T {
  return Object.getOwnPropertyDescriptor(NativeResponse.prototype, key)!.get! as (this: Response) => T;
}
const getStatus = nativeGetter<number>("status");
const getHeaders = nativeGetter<Headers>("headers");
const getBodyUsed = nativeGetter<boolean>("bodyUsed");
const getBody = nativeGetter<ReadableStream<unknown> | null>("body");

/** Reused for every response (encoding is synchronous and one at a time per process). */
const facts = newFieldFacts();

/**
 * Encodes `res` as the answer to `req`. `keepAlive`: whether the connection may carry another
 * request as far as the request (and the server) is concerned; the response can only turn it off.
 * Throws a TypeError/RangeError for a Response HTTP cannot carry (the caller answers 500).
 */
export function planResponse(res: Response, req: RequestFacts, keepAlive: boolean): ResponsePlan {
  const status = getStatus.call(res);
  if (!(status >= 100 && status <= 999)) throw new RangeError(`the app's Response has status ${status}, which HTTP cannot carry`);
  const f = facts;
  const source = sourceOf(res);
  // The fields it was built with, if it still holds exactly those (cheaper to check than to read).
  const fields = source?.fields;
  const headers = getHeaders.call(res);
  const lines = fields !== undefined && headersAre(headers, fields) ? linesFromFields(fields, f) : linesFromHeaders(headers, f);
  if (f.invalid) throw new TypeError("the app's Response has a header field that cannot be sent (e.g. a Content-Length that is not a number)");
  let head = statusLine(status) + lines;
  if (!f.hasDate) head += dateLine();
  if (f.close) keepAlive = false;
  const isHead = req.method === "HEAD";
  const intact = source !== undefined && !getBodyUsed.call(res);

  // Statuses without a body: nothing follows, whatever the Response holds.
  if (status < 200 || status === 204 || status === 304) {
    if (status === 304 && f.contentLength !== "") head += `content-length: ${f.contentLength}\r\n`;
    return plan(head, f, keepAlive, req, { kind: BodyKind.None, unread: intact ? null : getBody.call(res) });
  }

  if (intact) {
    if (source.sent === true) {
      // Sent once already: Bun.serve refuses to send the body again, and a HEAD announces an
      // empty body, without the type the runtime derived from it (measured on 1.4.5).
      if (!isHead) throw bodyAlreadyUsed();
      if (source.derivedType === true && f.hasContentType) head = withoutContentType(head, f);
      return plan(head + "content-length: 0\r\n", f, keepAlive, req, NONE);
    }
    const data = source.data;
    if (data === null) return nullBody(head, f, keepAlive, req, isHead, null);
    if (typeof data === "string" || data instanceof Uint8Array) {
      const length = typeof data === "string" ? utf8Length(data) : data.byteLength;
      // An empty body is not marked used by the runtime: it can be sent again.
      if (length > 0) source.sent = true;
      if (isHead) {
        if (source.derivedType === true && f.hasContentType) head = withoutContentType(head, f);
        return plan(head + `content-length: ${length}\r\n`, f, keepAlive, req, NONE);
      }
      if (length > 0 && !f.hasContentType) head += typeof data === "string" && !source.copied ? TEXT_PLAIN : OCTET_STREAM;
      return plan(head + `content-length: ${length}\r\n`, f, keepAlive, req, { kind: BodyKind.Whole, data, length });
    }
    // A Blob is marked used by a GET whatever its size, by a HEAD when it has bytes (1.4.5).
    if (!isHead || data.size > 0) source.sent = true;
    return blobBody(head, f, keepAlive, req, isHead, status, data, source.copied, source.derivedType === true, lines);
  }

  const body = getBody.call(res);
  if (body === null) return nullBody(head, f, keepAlive, req, isHead, null);
  // HEAD of a stream: Bun.serve announces it chunked and sends nothing.
  if (isHead) return plan(head + CHUNKED, f, keepAlive, req, { kind: BodyKind.None, unread: body });
  return { head, wide: f.wide, keepAlive, body: { kind: BodyKind.Stream, stream: body } };
}

/**
 * The error Bun.serve raises for a Response whose body was already sent (it answers 500 and
 * logs it; the app's onError does not see it: the app has returned). Same message and code.
 */
function bodyAlreadyUsed(): TypeError {
  const err = new TypeError("Response body already used. A Response body can only be sent once; create a new Response for each request.");
  (err as TypeError & { code: string }).code = "ERR_BODY_ALREADY_USED";
  return err;
}

/** UTF-8 length of a string: counted in JS for short ASCII (most bodies), else by the runtime. */
function utf8Length(s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return Buffer.byteLength(s);
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s);
  return n;
}
/** Up to this length a JS scan beats the native call (measured: ~0.1 µs saved per response). */
const SHORT_STRING = 256;

const NONE: BodyPlan = { kind: BodyKind.None, unread: null };

function nullBody(head: string, f: FieldFacts, keepAlive: boolean, req: RequestFacts, isHead: boolean, unread: ReadableStream<unknown> | null): ResponsePlan {
  const length = isHead && f.contentLength !== "" ? f.contentLength : "0";
  return plan(head + `content-length: ${length}\r\n`, f, keepAlive, req, { kind: BodyKind.None, unread });
}

function blobBody(
  head: string, f: FieldFacts, keepAlive: boolean, req: RequestFacts, isHead: boolean, status: number,
  blob: Blob, copied: boolean, derivedType: boolean, lines: string,
): ResponsePlan {
  const size = blob.size;
  if (isHead) {
    if (derivedType && f.hasContentType) head = withoutContentType(head, f);
    return plan(head + `content-length: ${size}\r\n`, f, keepAlive, req, NONE);
  }
  if (size > 0 && !f.hasContentType) {
    // A Blob re-wrapped through its stream keeps its type (as the runtime spells it in a
    // Response); an untyped one is bytes.
    if (copied) head += blob.type === "" ? OCTET_STREAM : `content-type: ${runtimeTypeOf(blob)}\r\n`;
    else if (blob.type === "") head += OCTET_STREAM;
  }
  const name = copied ? "" : blobName(blob);
  const disposition = name !== "" && !f.hasContentDisposition && namesFileFor(f.hasContentType ? f.contentType : blob.type || "application/octet-stream")
    ? dispositionLine(name) : "";
  if (!copied && status === 200 && req.method === "GET" && isBunFile(blob)) {
    const range = requestField(req, "range");
    if (range !== null && requestField(req, "if-range") === null) {
      const r = parseRange(range, size);
      if (r === "unsatisfiable") {
        // No body, so no Content-Disposition; the app's fields stay (Content-Type too, as
        // Bun.serve keeps it once the headers were read, which a server always does here).
        let h = statusLine(416) + lines;
        if (!f.hasDate) h += dateLine();
        h += `content-range: bytes */${size}\r\naccept-ranges: bytes\r\ncontent-length: 0\r\n`;
        return plan(h, f, keepAlive, req, NONE);
      }
      if (r !== null) {
        let h = statusLine(206) + head.slice(head.indexOf("\r\n") + 2) + disposition;
        h += `content-length: ${r.end - r.start}\r\ncontent-range: bytes ${r.start}-${r.end - 1}/${size}\r\naccept-ranges: bytes\r\n`;
        return plan(h, f, keepAlive, req, { kind: BodyKind.Blob, blob, start: r.start, end: r.end });
      }
    }
  }
  return plan(head + disposition + `content-length: ${size}\r\n`, f, keepAlive, req, { kind: BodyKind.Blob, blob, start: 0, end: size });
}

/** Bun.serve leaves the Content-Type the runtime derived from the body off a HEAD answer (an app-given one stays). */
function withoutContentType(head: string, f: FieldFacts): string {
  return head.replace(`content-type: ${f.contentType}\r\n`, "");
}

/** The Content-Type the runtime gives a Response made from `blob` ("text/html" → "text/html;charset=utf-8"). */
function runtimeTypeOf(blob: Blob): string {
  return new NativeResponse(blob).headers.get("content-type") ?? "application/octet-stream";
}

function plan(head: string, f: FieldFacts, keepAlive: boolean, req: RequestFacts, body: BodyPlan): ResponsePlan {
  return { head: head + connectionLine(keepAlive, req.version), wide: f.wide, keepAlive, body };
}

/** The Connection field (if any) and the CRLF that ends the head. */
export function connectionLine(keepAlive: boolean, version: number): string {
  return keepAlive ? (version === 10 ? "connection: keep-alive\r\n\r\n" : "\r\n") : "connection: close\r\n\r\n";
}

/**
 * Ends a Stream plan's head once the writer knows the framing: `length` ≥ 0 (the stream ended
 * early: Content-Length) or -1 (chunked on HTTP/1.1; on HTTP/1.0 the end of the connection ends
 * the body). Returns the head and whether the connection stays open.
 */
export function completeHead(plan: ResponsePlan, length: number, version: number): { head: string; keepAlive: boolean; chunked: boolean } {
  let head = plan.head;
  let keepAlive = plan.keepAlive;
  let chunked = false;
  if (length >= 0) head += `content-length: ${length}\r\n`;
  else if (version === 11) {
    head += CHUNKED;
    chunked = true;
  } else keepAlive = false;
  return { head: head + connectionLine(keepAlive, version), keepAlive, chunked };
}

/** The first value of a request field (name in lower case), or null. */
function requestField(req: RequestFacts, name: string): string | null {
  const o = req.fieldOffsets;
  const b = req.buf;
  for (let i = 0; i < o.length; i += 4) {
    const start = o[i]!;
    const end = o[i + 1]!;
    if (end - start !== name.length) continue;
    let same = true;
    for (let j = 0; j < name.length; j++) {
      if ((b[start + j]! | 0x20) !== name.charCodeAt(j)) {
        same = false;
        break;
      }
    }
    if (same) return b.toString("latin1", o[i + 2]!, o[i + 3]!);
  }
  return null;
}
