// Differential harness: one Hono app module, served by liveframe's `serve()` and by
// `Bun.serve({ fetch: app.fetch, development: false })`, each in a fresh process of its own
// (differential-server.ts: liveframe installs process-wide state, so a reference in the same
// process would not be one). Every case is sent as exact bytes over a raw TCP socket to both; both
// answers are parsed off the wire and compared:
//   - status code, reason phrase, HTTP version, interim (1xx) answers;
//   - every header field: for each name, its values in order (so repeated Set-Cookie count and
//     order matter); then the order of fields and the case of names (see ALLOWED_DIFFERENCES);
//   - every body byte, after de-chunking, and any trailer fields;
//   - framing (Content-Length N / chunked / close-delimited / none, and the Content-Length sent
//     on bodiless answers such as HEAD) and connection management (Connection, Keep-Alive);
//   - whether the connection is still usable and in sync afterwards: a probe request is sent on
//     the same socket ("closed", or "open (probe answered 404)").
//
// Normalised before comparing (nothing else is), each with its reason:
//   - Date (every answer): both servers stamp the time of sending; a value that is an IMF-fixdate
//     (RFC 9110 §5.6.7) on both compares equal. An app-set Date is the same string on both anyway.
//   - per case, opt-in `normalize` entries: `serverTiming` (hono/timing's measured durations),
//     `multipartBoundary` (the runtime picks a random boundary per FormData body),
//     `headerValue(name, pattern, …)` for values an app derives from the clock (a JWT iat, a
//     cookie expiry computed from now, an ETag of a timestamp). The shipped cases need only the
//     first two: tokens and cookie expiries are made with fixed times instead.
//
// What may differ: only what ALLOWED_DIFFERENCES (one table, each entry narrow and with its
// reason) lists: header-name case and the order of differently named fields, stream framing
// (Content-Length vs chunked for ReadableStream bodies; not for cases marked strictFraming),
// Connection headers that say what both servers do, Date on HEAD, the wording of engine-made
// refusals of malformed requests, and one Bun bug. Everything the app produced must match.
//
// Adding an app and cases (e.g. a held-out set):
//   1. Write a module whose default export is the Hono app (anything with fetch(req, env)).
//      Configuration reaches it through environment variables (`env`): it is loaded in two fresh
//      processes, one per server. Files it serves can be made in `setup` (runs before the servers).
//   2. In a test file:
//        differentialSuite("my app", () => ({ module: "/abs/path/app.ts", env: { … } }), [
//          { name: "GET /", request: { method: "GET", path: "/" } },
//          { name: "HEAD", request: { method: "HEAD", path: "/" } },
//          { name: "upload", request: { method: "POST", path: "/u", body: "abc" } },
//          { name: "chunked", request: { method: "POST", path: "/u", chunks: ["a", "bc"] } },
//          { name: "slow upload", request: { method: "POST", path: "/u", stream: async function* () { yield bytes; } } },
//          { name: "100-continue", request: { method: "POST", path: "/u", body: "abc", expectContinue: true } },
//          { name: "HTTP/1.0", request: { method: "GET", path: "/", version: "1.0", noHost: true } },
//          { name: "pipelined", pipeline: [{ method: "GET", path: "/a" }, { method: "GET", path: "/b" }] },
//          { name: "raw", raw: { bytes: "GET / HTTP/1.1\r\nHost: x\r\n\r\n" } },
//          { name: "file", request: { method: "GET", path: "/f" }, strictFraming: true },
//        ], { setup, teardown });
//      Each case becomes one test that fails with the list of its unexplained differences, one
//      line each ("#0 header content-type: liveframe (absent) | Bun.serve text/plain;…").
//      `request` builds the bytes (Host, Content-Length or chunked framing, Expect, version);
//      `raw` sends exactly what you give (a string is latin1, byte for byte). Pass your own
//      `allowances` only with reasons, as ALLOWED_DIFFERENCES does.
//   3. LIVEFRAME_DIFF_REPORT=/some/file.json writes every exchange and every difference (with the
//      allowance that covered it, or null) as JSON after the suite.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

// ---- cases ---------------------------------------------------------------------------------------

export interface WireRequest {
  method: string;
  /** The request target as written on the request line. */
  path: string;
  /** Default "1.1". */
  version?: "1.0" | "1.1";
  /** In the order they are written. A Host field is added (`host: t`) unless given or `noHost`. */
  headers?: [string, string][];
  noHost?: boolean;
  /** Sent with a Content-Length (added unless a content-length header is given). */
  body?: string | Uint8Array;
  /** Sent with Transfer-Encoding: chunked, one chunk per entry (then the last chunk). */
  chunks?: (string | Uint8Array)[];
  /**
   * A body still arriving while the server works: each piece is written once the kernel took the
   * previous one. Sent chunked, unless a content-length header is given (then as is).
   */
  stream?: () => AsyncIterable<Uint8Array>;
  /** Send `Expect: 100-continue`, then the head alone, then the body once the server answered 100. */
  expectContinue?: boolean;
}

export interface DiffCase {
  name: string;
  /** One request. */
  request?: WireRequest;
  /** Several requests written in one go on one connection; one answer each, in order. */
  pipeline?: WireRequest[];
  /** Exact bytes (a string is taken as latin1, byte for byte); `responses` answers are read (default 1), `head[i]` when answer i has no body. */
  raw?: { bytes: string | Uint8Array; responses?: number; head?: boolean[] };
  /** Per-case normalisers, applied to both answers after the global ones. */
  normalize?: Normalizer[];
  /** Per read; default READ_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The framing must match exactly (no stream-framing allowance): a string, bytes, Blob or Bun.file body. */
  strictFraming?: boolean;
  /** The answer's body is a Blob made without a type (see the "untyped-blob-type" allowance). */
  untypedBlob?: boolean;
  /** The app answers with a Response object it already sent once: allowance sent-response-headers. */
  sentBefore?: boolean;
}

// ---- what came back ------------------------------------------------------------------------------

export interface WireResponse {
  version: string;
  status: number;
  reason: string;
  /** Every field line as sent: name with its case, value trimmed of SP/HTAB, in order. */
  fields: [string, string][];
  body: Uint8Array;
  framing: "length" | "chunked" | "close" | "none";
  trailers: [string, string][];
}

export interface Exchange {
  /** What was asked, per answer expected ("?" where raw bytes were sent). */
  requests: { method: string; version: string }[];
  /** Interim (1xx) responses seen before each final response, by status. */
  interim: number[][];
  responses: WireResponse[];
  /** A failure to read what was expected (timeout, reset, unparsable bytes). */
  error: string | null;
  /** After the last answer: "closed", or "open" with the status of a probe request on the same socket. */
  afterward: string;
}

export type Normalizer = { name: string; reason: string; apply(r: WireResponse): WireResponse };

/** Per read: long enough for a loaded 2-core machine, short enough that a stuck case fails fast. */
export const READ_TIMEOUT_MS = 10_000;
/** How long a client waits for 100 Continue before sending the body anyway (curl's default is 1 s). */
export const CONTINUE_WAIT_MS = 1_000;
/** Sent after the last answer to see whether the connection is still usable (and in sync). */
const PROBE = "GET /__differential_probe HTTP/1.1\r\nHost: t\r\n\r\n";
/** Fields that carry framing or connection management: compared as framing, not as content. */
const FRAMING_FIELDS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

// ---- normalisers --------------------------------------------------------------------------------

function mapFields(r: WireResponse, fn: (name: string, value: string) => string): WireResponse {
  return { ...r, fields: r.fields.map(([n, v]) => [n, fn(n.toLowerCase(), v)] as [string, string]) };
}

/** Applied to every answer. */
export const GLOBAL_NORMALIZERS: Normalizer[] = [
  {
    name: "date",
    reason: "both servers stamp the time of sending; an IMF-fixdate compares equal, anything else as is",
    apply: (r) => mapFields(r, (n, v) => (n === "date" && IMF_FIXDATE.test(v) ? "<IMF-fixdate>" : v)),
  },
];

export const normalize = {
  /** hono/timing measures durations: `total;dur=0.53` differs from run to run. */
  serverTiming: {
    name: "server-timing durations",
    reason: "hono/timing reports measured durations, which differ on every request",
    apply: (r) => mapFields(r, (n, v) => (n === "server-timing" ? v.replace(/dur=[0-9.]+/g, "dur=<ms>") : v)),
  } satisfies Normalizer,
  /** A FormData body gets a boundary the runtime picks at random, in Content-Type and body. */
  multipartBoundary: {
    name: "multipart boundary",
    reason: "the runtime picks a random boundary for every FormData body",
    apply: (r) => {
      const ct = r.fields.find(([n]) => n.toLowerCase() === "content-type")?.[1] ?? "";
      const m = /boundary=("?)([^";]+)\1/.exec(ct);
      if (!m) return r;
      const boundary = m[2]!;
      const body = Buffer.from(Buffer.from(r.body).toString("latin1").split(boundary).join("<boundary>"), "latin1");
      return { ...mapFields(r, (_n, v) => v.split(boundary).join("<boundary>")), body };
    },
  } satisfies Normalizer,
  /** Replace text matching `pattern` in a body (read as latin1), for values the app makes up per request. */
  bodyText(pattern: RegExp, replacement: string, reason: string): Normalizer {
    return {
      name: `body ${pattern}`,
      reason,
      apply: (r) => ({ ...r, body: Buffer.from(Buffer.from(r.body).toString("latin1").replace(pattern, replacement), "latin1") }),
    };
  },
  /** Replace a header's value matching `pattern` (for values the app derives from the clock). */
  headerValue(name: string, pattern: RegExp, replacement: string, reason: string): Normalizer {
    return {
      name: `${name} ${pattern}`,
      reason,
      apply: (r) => mapFields(r, (n, v) => (n === name.toLowerCase() ? v.replace(pattern, replacement) : v)),
    };
  },
};

// ---- allowed differences ---------------------------------------------------------------------------

export type DiffKind =
  | "count" | "status" | "reason" | "interim" | "header" | "header-order" | "header-case" | "body" | "framing" | "connection" | "trailers" | "afterward" | "error";

export interface Difference {
  kind: DiffKind;
  /** Index of the answer (pipelined cases have several). */
  index: number;
  detail: string;
  liveframe: string;
  bun: string;
}

export interface Allowance {
  id: string;
  reason: string;
  applies(d: Difference, c: DiffCase, lf: Exchange, bun: Exchange): boolean;
}

const framingOf = (e: Exchange, i: number): string => e.responses[i]?.framing ?? "-";
const connectionOf = (e: Exchange, i: number): string => {
  const r = e.responses[i];
  return r === undefined ? "" : connectionSummary(r);
};
const isLast = (e: Exchange, i: number): boolean => i === e.responses.length - 1;

/**
 * The one table of differences that are not failures. Each entry is narrow: a kind of
 * difference, under a condition, with the reason a client cannot be hurt by it. Allowed
 * differences still appear in the JSON report (LIVEFRAME_DIFF_REPORT), marked as allowed.
 */
export const ALLOWED_DIFFERENCES: Allowance[] = [
  {
    id: "header-name-case",
    reason:
      "field names are case-insensitive (RFC 9110 §5.1). Bun.serve writes a name the way its header table " +
      "spells it (Content-Type, ETag, Date, Content-Length for the ones it knows, the app's spelling for others, " +
      "lower case for the Content-Type it adds itself); the Fetch Headers API gives liveframe lower case only",
    applies: (d) => d.kind === "header-case",
  },
  {
    id: "header-order",
    reason:
      "the order of fields with different names carries no meaning (RFC 9110 §5.3); same-name fields (Set-Cookie) " +
      "are compared in order as values. Bun.serve writes the well-known fields it keeps in a table first, then " +
      "the others in insertion order, then Date and Content-Length; the Headers iterator gives liveframe sorted names",
    applies: (d) => d.kind === "header-order",
  },
  {
    id: "stream-framing",
    reason:
      "a ReadableStream body: Bun.serve sends a Content-Length when the stream has already ended when it first " +
      "reads it, liveframe when it ends within its first two reads; otherwise chunked. Which one depends on timing; " +
      "the bytes are the same. Cases whose body is a string, bytes, a Blob or a Bun.file set strictFraming " +
      "(Bun.serve always sends those with a Content-Length, whatever middleware did to the headers)",
    applies: (d, c, lf, bun) => {
      if (d.kind !== "framing" || c.strictFraming) return false;
      const pair = `${framingOf(lf, d.index)}/${framingOf(bun, d.index)}`;
      return pair === "length/chunked" || pair === "chunked/length";
    },
  },
  {
    id: "says-close",
    reason:
      "both servers close after this answer; liveframe says so with Connection: close (RFC 9112 §9.6: a server " +
      "that will close SHOULD send it), Bun.serve closes without saying it (HTTP/1.0, or the client asked to close)",
    applies: (d, _c, lf, bun) =>
      d.kind === "connection" && isLast(lf, d.index) && connectionOf(lf, d.index) === "connection: close" &&
      connectionOf(bun, d.index) === "" && lf.afterward === "closed" && bun.afterward === "closed",
  },
  {
    id: "redundant-keep-alive",
    reason: "Bun.serve adds Connection: keep-alive to text/event-stream answers; in HTTP/1.1 that is the default",
    applies: (d, _c, lf, bun) =>
      d.kind === "connection" && lf.requests[d.index]?.version === "1.1" &&
      connectionOf(bun, d.index) === "connection: keep-alive" && connectionOf(lf, d.index) === "" &&
      !lf.afterward.startsWith("closed") && !bun.afterward.startsWith("closed"),
  },
  {
    id: "http10-keep-alive",
    reason:
      "an HTTP/1.0 client asked for keep-alive: keeping the connection is the server's choice (RFC 9112 " +
      "Appendix C.2.2); liveframe keeps it and says so, Bun.serve closes. A 1.0 client handles both",
    applies: (d, _c, lf, bun) => {
      const last = lf.responses.length - 1;
      const shape =
        lf.requests[last]?.version === "1.0" && connectionOf(lf, last) === "connection: keep-alive" &&
        lf.afterward.startsWith("open") && connectionOf(bun, last) === "" && bun.afterward === "closed";
      return shape && (d.kind === "afterward" || (d.kind === "connection" && d.index === last));
    },
  },
  {
    id: "head-date",
    reason:
      "Bun.serve leaves Date off answers to HEAD; an origin server with a clock MUST send it (RFC 9110 §6.6.1), " +
      "and liveframe does",
    applies: (d, _c, lf) => d.kind === "header" && d.detail === "date" && lf.requests[d.index]?.method === "HEAD" && d.bun === "(absent)",
  },
  {
    id: "engine-refusal-wording",
    reason:
      "a malformed request refused by the server itself (Bun.serve: 4xx, Connection: close, no Date, then closes): the " +
      "status and the close must match; the body and its fields are each server's own words",
    applies: (d, _c, lf, bun) => {
      const l = lf.responses[d.index], b = bun.responses[d.index];
      if (!l || !b || !["header", "body", "framing", "connection"].includes(d.kind)) return false;
      // Bun.serve's own refusals carry no Date; every answer from the app does, so an app's
      // 400 with Connection: close is never taken for one.
      return b.status >= 400 && b.status < 500 && connectionOf(bun, d.index) === "connection: close" &&
        fieldValues(b.fields, "date").length === 0 && bun.afterward === "closed" && l.status === b.status && lf.afterward === "closed";
    },
  },
  {
    id: "bun-trailer-desync",
    reason:
      "Bun.serve 1.4.5 does not consume the trailer section of a chunked request body (a Bun bug): the next " +
      "request on that connection gets 400. liveframe reads the trailer as RFC 9112 §7.1.2 says and answers the " +
      "next request. Only the probe sent after the case differs",
    applies: (d, c, lf, bun) =>
      d.kind === "afterward" && c.raw !== undefined && /\r\n0\r\n[^\r]/.test(Buffer.from(bytesOf(c.raw.bytes)).toString("latin1")) &&
      bun.afterward === "open (probe answered 400)" && lf.afterward.startsWith("open"),
  },
  {
    id: "untyped-blob-type",
    reason:
      "a Blob made without a type: Bun.serve picks the Content-Type from how the Blob was built (text/plain;charset=utf-8 " +
      "when every part was a string, a sniffed type such as image/png or application/octet-stream when a part was " +
      "bytes), which nothing in JavaScript can read (type, size, slice, inspect, Response/Request/FormData of it all " +
      "look the same); liveframe sends application/octet-stream, which a browser never renders (no XSS), and the same bytes",
    applies: (d, c, lf) =>
      c.untypedBlob === true && d.kind === "header" && d.detail === "content-type" && d.liveframe === "application/octet-stream" &&
      lf.responses[d.index] !== undefined,
  },
  {
    id: "sent-response-headers",
    reason:
      "the same Response object answered again after it was sent: Bun.serve moves a Response's fields out when it sends " +
      "it, so a later `new Response(null, res)` (Hono's HEAD answer) finds none; liveframe leaves the object as the app " +
      "made it, so the type it derived from its Blob is still there. Only a field liveframe has and Bun.serve lacks, " +
      "only in cases marked sentBefore",
    applies: (d, c, _lf, bun) =>
      c.sentBefore === true && d.kind === "header" && d.bun === "(absent)" && bun.responses[d.index] !== undefined,
  },
  {
    id: "refused-without-answer",
    reason:
      "Bun.serve closes the connection without any answer for some malformed requests (e.g. a method that is " +
      "not upper case); liveframe answers 400 and closes. Both refuse the request and keep nothing open",
    applies: (d, _c, lf, bun) =>
      ["error", "count", "afterward"].includes(d.kind) && bun.responses.length === 0 &&
      (bun.error ?? "").startsWith("connection closed") && lf.responses.length === 1 &&
      lf.responses[0]!.status === 400 && lf.afterward === "closed",
  },
];

// ---- encoding requests ------------------------------------------------------------------------------

const enc = new TextEncoder();
/** Raw wire bytes: a string is taken byte for byte (latin1), so "\xa0" is the single byte 0xA0. */
function rawBytes(x: string | Uint8Array): Uint8Array {
  return typeof x === "string" ? Buffer.from(x, "latin1") : x;
}
/** A body: a string is UTF-8, as an app would send text. */
function bytesOf(x: string | Uint8Array): Uint8Array {
  return typeof x === "string" ? enc.encode(x) : x;
}

/** The request's head and body bytes, as a client would write them. */
export function encodeRequest(r: WireRequest): { head: Uint8Array; body: Uint8Array } {
  const version = r.version ?? "1.1";
  const headers = [...(r.headers ?? [])];
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (!r.noHost && !has("host")) headers.unshift(["host", "t"]);
  let body: Uint8Array = new Uint8Array(0);
  if (r.stream !== undefined) {
    if (!has("content-length") && !has("transfer-encoding")) headers.push(["transfer-encoding", "chunked"]);
  } else if (r.chunks !== undefined) {
    if (!has("transfer-encoding")) headers.push(["transfer-encoding", "chunked"]);
    const parts: Uint8Array[] = [];
    for (const c of r.chunks) {
      const b = bytesOf(c);
      if (b.byteLength === 0) continue; // a zero-size chunk would end the body
      parts.push(enc.encode(`${b.byteLength.toString(16)}\r\n`), b, enc.encode("\r\n"));
    }
    parts.push(enc.encode("0\r\n\r\n"));
    body = Buffer.concat(parts);
  } else if (r.body !== undefined) {
    body = bytesOf(r.body);
    if (!has("content-length")) headers.push(["content-length", String(body.byteLength)]);
  }
  if (r.expectContinue && !has("expect")) headers.push(["expect", "100-continue"]);
  const text = `${r.method} ${r.path} HTTP/${version}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
  return { head: Buffer.from(text, "latin1"), body };
}

// ---- a raw client -------------------------------------------------------------------------------------

class WireClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  private pending: Uint8Array[] = [];
  private constructor(private socket: Socket<WireClient>) {}

  static async connect(port: number): Promise<WireClient> {
    let client!: WireClient;
    await Bun.connect<WireClient>({
      hostname: "127.0.0.1",
      port,
      allowHalfOpen: true,
      socket: {
        open(s) {
          client = new WireClient(s);
          s.data = client;
        },
        data(s, d) {
          s.data.buf = s.data.buf.length === 0 ? Buffer.from(d) : Buffer.concat([s.data.buf, d]);
          s.data.wake();
        },
        drain(s) {
          s.data.flush();
          s.data.wake();
        },
        end(s) {
          s.data.ended = true;
          s.data.wake();
        },
        close(s) {
          s.data.ended = true;
          s.data.wake();
        },
        error(s) {
          s.data.ended = true;
          s.data.wake();
        },
      },
    });
    return client;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(bytes: Uint8Array): void {
    if (this.ended) throw new Error("the server closed the connection before the request was written");
    this.pending.push(bytes);
    this.flush();
  }

  private flush(): void {
    while (this.pending.length > 0) {
      const b = this.pending[0]!;
      const n = this.socket.write(b);
      if (n < 0) return;
      if (n < b.byteLength) {
        this.pending[0] = b.subarray(n);
        return;
      }
      this.pending.shift();
    }
  }

  /** Resolves once everything written so far is in the kernel (or the peer is gone). */
  async drained(timeoutMs: number): Promise<void> {
    if (!(await this.wait(() => this.pending.length === 0, timeoutMs)) && !this.ended) throw new Error("timed out writing the request body");
  }

  /** Waits until `ready()` holds; false if the peer ended first or the time ran out. */
  async wait(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.ended) return ready();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  get received(): Buffer {
    return this.buf;
  }

  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async need(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (!(await this.wait(ready, timeoutMs))) {
      const got = JSON.stringify(this.buf.toString("latin1").slice(0, 120));
      throw new Error(this.ended ? `connection closed while waiting for ${what} (unread: ${got})` : `timed out waiting for ${what} (unread: ${got})`);
    }
  }

  close(): void {
    this.socket.terminate();
  }
}

async function readHead(c: WireClient, timeoutMs: number): Promise<{ version: string; status: number; reason: string; fields: [string, string][] }> {
  await c.need(() => c.received.indexOf("\r\n\r\n") >= 0, timeoutMs, "a response head");
  const text = c.take(c.received.indexOf("\r\n\r\n") + 4).toString("latin1").slice(0, -4);
  const [statusLine, ...lines] = text.split("\r\n");
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(statusLine!);
  if (!m) throw new Error(`unparsable status line ${JSON.stringify(statusLine)}`);
  const fields = lines.map((line): [string, string] => {
    const i = line.indexOf(":");
    if (i <= 0) throw new Error(`unparsable field line ${JSON.stringify(line)}`);
    return [line.slice(0, i), line.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, "")];
  });
  return { version: m[1]!, status: Number(m[2]), reason: m[3] ?? "", fields };
}

function fieldValues(fields: [string, string][], name: string): string[] {
  return fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/** One final response (after any interim ones), its body read as its framing says. */
async function readResponse(c: WireClient, isHead: boolean, timeoutMs: number): Promise<{ interim: number[]; response: WireResponse }> {
  const interim: number[] = [];
  for (;;) {
    const h = await readHead(c, timeoutMs);
    if (h.status >= 100 && h.status < 200 && h.status !== 101) {
      interim.push(h.status);
      continue;
    }
    const te = fieldValues(h.fields, "transfer-encoding").join(",").toLowerCase();
    const cl = fieldValues(h.fields, "content-length");
    let body: Uint8Array = new Uint8Array(0);
    let framing: WireResponse["framing"];
    const trailers: [string, string][] = [];
    if (isHead || h.status === 204 || h.status === 304 || h.status < 200) {
      framing = "none";
    } else if (/(^|,)\s*chunked\s*$/.test(te)) {
      framing = "chunked";
      const parts: Buffer[] = [];
      for (let i = 0; ; i++) {
        if (i > 1_000_000) throw new Error("more than a million chunks");
        await c.need(() => c.received.indexOf("\r\n") >= 0, timeoutMs, "a chunk-size line");
        const line = c.take(c.received.indexOf("\r\n") + 2).toString("latin1");
        const size = parseInt(line, 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk-size line ${JSON.stringify(line)}`);
        if (size === 0) {
          for (;;) {
            await c.need(() => c.received.indexOf("\r\n") >= 0, timeoutMs, "the trailer section");
            const t = c.take(c.received.indexOf("\r\n") + 2).toString("latin1").slice(0, -2);
            if (t === "") break;
            const j = t.indexOf(":");
            trailers.push([t.slice(0, j), t.slice(j + 1).trim()]);
          }
          break;
        }
        await c.need(() => c.received.length >= size + 2, timeoutMs, `a ${size}-byte chunk`);
        parts.push(Buffer.from(c.take(size + 2).subarray(0, size)));
      }
      body = Buffer.concat(parts);
    } else if (cl.length > 0) {
      framing = "length";
      const n = Number(cl[0]);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad Content-Length ${JSON.stringify(cl)}`);
      await c.need(() => c.received.length >= n, timeoutMs, `a ${n}-byte body`);
      body = Buffer.from(c.take(n));
    } else {
      framing = "close";
      await c.need(() => c.ended, timeoutMs, "the end of a close-delimited body");
      body = Buffer.from(c.take(c.received.length));
    }
    return { interim, response: { ...h, body, framing, trailers } };
  }
}

/** Sends one case to a server and reads everything it answers. */
export async function exchange(port: number, kase: DiffCase): Promise<Exchange> {
  const timeoutMs = kase.timeoutMs ?? READ_TIMEOUT_MS;
  const out: Exchange = { requests: [], interim: [], responses: [], error: null, afterward: "" };
  const c = await WireClient.connect(port);
  try {
    const expected: boolean[] = []; // per answer: is it an answer to HEAD?
    if (kase.raw !== undefined) {
      c.write(rawBytes(kase.raw.bytes));
      for (let i = 0; i < (kase.raw.responses ?? 1); i++) {
        const head = kase.raw.head?.[i] ?? false;
        expected.push(head);
        out.requests.push({ method: head ? "HEAD" : "?", version: "?" });
      }
    } else {
      const reqs = kase.pipeline ?? (kase.request ? [kase.request] : []);
      if (reqs.length === 0) throw new Error(`case ${kase.name}: give request, pipeline or raw`);
      const single = reqs.length === 1 && reqs[0]!.expectContinue === true;
      if (reqs.some((r) => r.stream !== undefined)) {
        if (reqs.length !== 1) throw new Error(`case ${kase.name}: a streamed body only in a single request`);
        const r = reqs[0]!;
        c.write(encodeRequest(r).head);
        const chunked = !(r.headers ?? []).some(([n]) => n.toLowerCase() === "content-length");
        for await (const piece of r.stream!()) {
          if (c.ended) break; // the server answered and closed early: what it said is read below
          if (piece.byteLength === 0) continue;
          c.write(chunked ? Buffer.concat([enc.encode(`${piece.byteLength.toString(16)}\r\n`), piece, enc.encode("\r\n")]) : piece);
          await c.drained(timeoutMs);
        }
        if (chunked && !c.ended) c.write(enc.encode("0\r\n\r\n"));
      } else if (single) {
        // Head first; the body only after 100 Continue (or after CONTINUE_WAIT_MS, as curl does).
        // A final answer before that means the server does not want the body: it is not sent.
        const { head, body } = encodeRequest(reqs[0]!);
        c.write(head);
        const got = await c.wait(() => c.received.indexOf("\r\n\r\n") >= 0, CONTINUE_WAIT_MS);
        const isContinue = got && /^HTTP\/1\.[01] 100/.test(c.received.toString("latin1", 0, 16));
        if (!got || isContinue) c.write(body);
      } else {
        const wire: Uint8Array[] = [];
        for (const r of reqs) {
          const { head, body } = encodeRequest(r);
          wire.push(head, body);
        }
        c.write(Buffer.concat(wire));
      }
      for (const r of reqs) {
        expected.push(r.method === "HEAD");
        out.requests.push({ method: r.method, version: r.version ?? "1.1" });
      }
    }
    for (const isHead of expected) {
      const { interim, response } = await readResponse(c, isHead, timeoutMs);
      out.interim.push(interim);
      out.responses.push(response);
    }
  } catch (err) {
    out.error = (err as Error).message;
  }
  // Is the connection still usable, and in sync? Only meaningful when every answer was read.
  if (out.error !== null) out.afterward = "not probed (read failed)";
  else if (c.ended) out.afterward = "closed";
  else {
    try {
      c.write(Buffer.from(PROBE, "latin1"));
      const { response } = await readResponse(c, false, timeoutMs);
      out.afterward = `open (probe answered ${response.status})`;
    } catch (err) {
      out.afterward = c.ended ? "closed" : `probe failed: ${(err as Error).message}`;
    }
  }
  c.close();
  return out;
}

// ---- comparing -----------------------------------------------------------------------------------------

function show(b: Uint8Array): string {
  const s = Buffer.from(b).toString("latin1");
  return `${b.byteLength} bytes ${JSON.stringify(s.length > 160 ? `${s.slice(0, 160)}…` : s)}`;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function normalized(r: WireResponse, kase: DiffCase): WireResponse {
  let out = r;
  for (const n of [...GLOBAL_NORMALIZERS, ...(kase.normalize ?? [])]) out = n.apply(out);
  return out;
}

/** How the body's end is marked: "content-length N", "chunked", "close" or "none" (with any Content-Length sent on a bodiless answer). */
function framingSummary(r: WireResponse): string {
  const cl = fieldValues(r.fields, "content-length").join(",");
  const te = fieldValues(r.fields, "transfer-encoding").join(",");
  const parts = [r.framing === "length" ? `content-length ${cl}` : r.framing];
  if (te !== "" && r.framing !== "chunked") parts.push(`transfer-encoding ${te}`);
  if (r.framing === "none") parts.push(cl !== "" ? `content-length ${cl}` : "no content-length");
  return parts.join("; ");
}

/** The Connection and Keep-Alive fields as sent ("" when absent). */
function connectionSummary(r: WireResponse): string {
  const parts: string[] = [];
  for (const name of ["connection", "keep-alive"]) {
    const v = fieldValues(r.fields, name);
    if (v.length > 0) parts.push(`${name}: ${v.join(", ")}`);
  }
  return parts.join("; ");
}

/** Every difference between the two exchanges, before allowances. */
export function differences(kase: DiffCase, lf: Exchange, bun: Exchange): Difference[] {
  const diffs: Difference[] = [];
  const add = (kind: DiffKind, index: number, detail: string, l: string, b: string) => diffs.push({ kind, index, detail, liveframe: l, bun: b });
  if (lf.error !== bun.error) add("error", -1, "reading the answer", lf.error ?? "ok", bun.error ?? "ok");
  if (lf.responses.length !== bun.responses.length) add("count", -1, "answers read", String(lf.responses.length), String(bun.responses.length));
  const n = Math.min(lf.responses.length, bun.responses.length);
  for (let i = 0; i < n; i++) {
    const l = normalized(lf.responses[i]!, kase);
    const b = normalized(bun.responses[i]!, kase);
    if (l.status !== b.status) add("status", i, "status", String(l.status), String(b.status));
    if (l.reason !== b.reason) add("reason", i, "reason phrase", JSON.stringify(l.reason), JSON.stringify(b.reason));
    if (l.version !== b.version) add("status", i, "HTTP version of the status line", l.version, b.version);
    const li = (lf.interim[i] ?? []).join(","), bi = (bun.interim[i] ?? []).join(",");
    if (li !== bi) add("interim", i, "interim (1xx) answers", li || "none", bi || "none");
    // Content fields: each name's values, in order, must match.
    const content = (r: WireResponse) => r.fields.filter(([name]) => !FRAMING_FIELDS.has(name.toLowerCase()));
    const lc = content(l), bc = content(b);
    const names = new Set([...lc, ...bc].map(([name]) => name.toLowerCase()));
    let sameFields = true;
    for (const name of [...names].sort()) {
      const lv = fieldValues(lc, name), bv = fieldValues(bc, name);
      if (JSON.stringify(lv) !== JSON.stringify(bv)) {
        sameFields = false;
        add("header", i, name, lv.length ? lv.join(" | ") : "(absent)", bv.length ? bv.join(" | ") : "(absent)");
      }
    }
    if (sameFields) {
      const lo = lc.map(([name]) => name.toLowerCase()).join(", "), bo = bc.map(([name]) => name.toLowerCase()).join(", ");
      if (lo !== bo) add("header-order", i, "order of header fields", lo, bo);
      const lk = lc.map(([name]) => name).join(", "), bk = bc.map(([name]) => name).join(", ");
      if (lo === bo && lk !== bk) add("header-case", i, "case of header names", lk, bk);
    }
    const fl = framingSummary(l), fb = framingSummary(b);
    if (fl !== fb) add("framing", i, "framing", fl, fb);
    const cl = connectionSummary(l), cb = connectionSummary(b);
    if (cl !== cb) add("connection", i, "connection management fields", cl || "(none)", cb || "(none)");
    if (Buffer.compare(Buffer.from(l.body), Buffer.from(b.body)) !== 0) {
      add("body", i, `body (first difference at byte ${firstDifference(l.body, b.body)})`, show(l.body), show(b.body));
    }
    const lt = JSON.stringify(l.trailers), bt = JSON.stringify(b.trailers);
    if (lt !== bt) add("trailers", i, "trailer fields", lt, bt);
  }
  if (lf.afterward !== bun.afterward) add("afterward", -1, "the connection after the last answer", lf.afterward, bun.afterward);
  return diffs;
}

export function formatDifference(d: Difference): string {
  const at = d.index >= 0 ? `#${d.index} ` : "";
  return `${at}${d.kind} ${d.detail}: liveframe ${d.liveframe} | Bun.serve ${d.bun}`;
}

/** Differences that no allowance covers. */
export function unexplained(kase: DiffCase, lf: Exchange, bun: Exchange, allowances = ALLOWED_DIFFERENCES): Difference[] {
  return differences(kase, lf, bun).filter((d) => !allowances.some((a) => a.applies(d, kase, lf, bun)));
}

// ---- servers -------------------------------------------------------------------------------------------

export interface DifferentialApp {
  /** Absolute path of a module whose default export is the app. */
  module: string;
  /** Environment for both server processes (on top of this process's). */
  env?: Record<string, string>;
}

export interface ServerPair {
  liveframe: number;
  bun: number;
  /** What the servers wrote to stderr so far (shown when a case fails). */
  stderr(): string;
  stop(): Promise<void>;
}

/** How long a server process may take to load the app and listen, on a loaded machine. */
const START_TIMEOUT_MS = 30_000;
const SERVER_SCRIPT = join(import.meta.dir, "differential-server.ts");

async function startOne(engine: "liveframe" | "bun", app: DifferentialApp, log: string[]): Promise<{ port: number; proc: Subprocess }> {
  const proc = Bun.spawn([process.execPath, SERVER_SCRIPT, engine, app.module], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...app.env },
  });
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log.push(`[${engine}] ${dec.decode(chunk)}`);
  })();
  // stdout is read to the end (an app that logs must never block on a full pipe); the first
  // line starting with "{" is the port.
  let resolvePort!: (port: number) => void;
  let rejectPort!: (err: Error) => void;
  const portLine = new Promise<number>((res, rej) => {
    resolvePort = res;
    rejectPort = rej;
  });
  void (async () => {
    const dec = new TextDecoder();
    let text = "";
    let found = false;
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      text += dec.decode(chunk);
      if (found) {
        text = "";
        continue;
      }
      const line = text.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        found = true;
        resolvePort((JSON.parse(line) as { port: number }).port);
      }
    }
    if (!found) rejectPort(new Error(`the ${engine} server for ${app.module} exited before listening (exit ${await proc.exited}): ${log.join("")}`));
  })();
  const timer = setTimeout(() => {
    rejectPort(new Error(`the ${engine} server for ${app.module} did not listen within ${START_TIMEOUT_MS} ms: ${log.join("")}`));
    proc.kill();
  }, START_TIMEOUT_MS);
  try {
    return { port: await portLine, proc };
  } finally {
    clearTimeout(timer);
  }
}

export async function startServers(app: DifferentialApp): Promise<ServerPair> {
  const log: string[] = [];
  const started = await Promise.allSettled([startOne("liveframe", app, log), startOne("bun", app, log)]);
  const procs = started.flatMap((s) => (s.status === "fulfilled" ? [s.value.proc] : []));
  const stop = async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [lf, bun] = started as PromiseFulfilledResult<{ port: number; proc: Subprocess }>[];
  return { liveframe: lf!.value.port, bun: bun!.value.port, stderr: () => log.join(""), stop };
}

/** A result with bodies shown as a length and a prefix (a 5 MB body does not belong in a report). */
function forReport(r: CaseResult): unknown {
  const ex = (e: Exchange) => ({ ...e, responses: e.responses.map((x) => ({ ...x, body: show(x.body) })) });
  return { ...r, liveframe: ex(r.liveframe), bun: ex(r.bun) };
}

// ---- the suite -------------------------------------------------------------------------------------------

export interface CaseResult {
  name: string;
  /** Every difference found, with the allowance that covers it (null: a failure). */
  liveframe: Exchange;
  bun: Exchange;
  differences: (Difference & { allowedBy: string | null })[];
  unexplained: Difference[];
}

/**
 * One describe block: starts both servers for `app` (after `setup`, which may prepare files the
 * app's env points at), then one test per case. A case fails with its unexplained differences.
 */
export function differentialSuite(
  title: string,
  app: DifferentialApp | (() => DifferentialApp),
  cases: DiffCase[] | (() => DiffCase[]),
  opts: { setup?: () => unknown; teardown?: () => unknown; allowances?: Allowance[] } = {},
): void {
  describe(title, () => {
    let pair: ServerPair | undefined;
    const results: CaseResult[] = [];
    beforeAll(async () => {
      await opts.setup?.();
      pair = await startServers(typeof app === "function" ? app() : app);
    });
    afterAll(async () => {
      await pair?.stop();
      await opts.teardown?.();
      const file = process.env.LIVEFRAME_DIFF_REPORT;
      if (file) writeFileSync(file, JSON.stringify(results.map(forReport), null, 2));
    });
    const list = typeof cases === "function" ? cases() : cases;
    const seen = new Set<string>();
    for (const kase of list) {
      if (seen.has(kase.name)) throw new Error(`two differential cases are named ${JSON.stringify(kase.name)}: names must be unique`);
      seen.add(kase.name);
      test(kase.name, async () => {
        const [lf, bun] = await Promise.all([exchange(pair!.liveframe, kase), exchange(pair!.bun, kase)]);
        const allowances = opts.allowances ?? ALLOWED_DIFFERENCES;
        const all = differences(kase, lf, bun).map((d) => ({ ...d, allowedBy: allowances.find((a) => a.applies(d, kase, lf, bun))?.id ?? null }));
        const bad = all.filter((d) => d.allowedBy === null);
        results.push({ name: kase.name, liveframe: lf, bun, differences: all, unexplained: bad });
        expect(bad.map(formatDifference)).toEqual([]);
      });
    }
  });
}
