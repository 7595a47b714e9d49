// Limits and timeouts of the HTTP engine: one named default each, with the reason beside it,
// and the zod schema that validates what a user passes (a wrong option names itself).
import { z } from "zod";

/** Request line + header fields, in bytes. 16 KiB: Node's default, above any sane browser cookie jar. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Number of header fields. 100: Node's default; more is a smuggling or DoS attempt, not a browser. */
export const DEFAULT_MAX_HEADER_COUNT = 100;
/** Request body (after chunked decoding), in bytes (413 beyond). 16 MiB: a body the app reads whole (c.req.json(), arrayBuffer()) is held in memory, so this bounds memory per request. Raise it for uploads the app streams. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Request target length. 8 KiB: what most proxies and CDNs accept (RFC 9112 §3 recommends at least 8000). */
export const DEFAULT_MAX_URL_LENGTH = 8 * 1024;
/** Time to receive a complete header section once its first byte arrived: slowloris protection (408). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time to receive a whole request (head and body) once its first byte arrived (408). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** An idle keep-alive connection is closed after this long without a byte. 5 s, like Node: shorter than most clients' pools, so the client never races our close on a fresh request. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * A request body the app answered without reading (all of it or the rest) is read and dropped,
 * up to this many more bytes, so the connection can carry the next request, as Bun.serve does;
 * a body with more still to come closes the connection after the answer instead. 4 MiB: reusing
 * a connection is worth a few round trips of discarded upload, not an unbounded one (a client
 * that keeps sending is also bounded by maxBodyBytes and the request timeout).
 */
export const MAX_UNREAD_BODY_DRAIN_BYTES = 4 * 1024 * 1024;
/** Bytes of request data read ahead (pipelined requests) while a response is pending before the socket is paused. */
export const DEFAULT_MAX_PIPELINE_BYTES = 64 * 1024;
/**
 * Answers to pipelined requests collect in one write up to this many bytes; beyond it they go to
 * the kernel, and while the kernel does not take them the connection answers and reads nothing
 * more. 64 KiB coalesces a usual pipelined batch into one syscall, and a client that sends
 * requests but never reads the answers holds at most this (plus one response) of our memory:
 * without it, 30,000 pipelined GETs of 16 KiB took a server from 51 MB to 854 MB.
 */
export const MAX_UNSENT_RESPONSE_BYTES = 64 * 1024;

/**
 * Chunk-extension bytes on one chunk-size line (413 beyond). 16 KiB: Bun.serve's and Node's
 * bound (Node since CVE-2024-22019, `HPE_CHUNK_EXTENSIONS_OVERFLOW`), so a line either accepts
 * the other accepts too.
 */
export const MAX_CHUNK_EXTENSION_LINE_BYTES = 16 * 1024;
/**
 * Chunk-extension bytes one request body may carry beyond its data bytes (413 beyond). Bun and
 * Node bound extensions per line only, so 1-byte chunks each padded with 16 KiB of extension
 * make a 16 MiB body cost 256 GiB of parsing. Extensions are metadata the app never sees: here
 * they may not outweigh the data by more than one full line. A signed streaming upload (S3 SigV4:
 * ~85 bytes per chunk of 8 KiB or more) stays far inside it.
 */
export const CHUNK_EXTENSION_ALLOWANCE_BYTES = 16 * 1024;

const positiveInt = (what: string) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be greater than 0`);

export const serverOptionsSchema = z
  .object({
    /** Request line + headers, bytes (431 beyond). Default {@link DEFAULT_MAX_HEADER_BYTES}. */
    maxHeaderBytes: positiveInt("maxHeaderBytes").default(DEFAULT_MAX_HEADER_BYTES),
    /** Header field count (431 beyond). Default {@link DEFAULT_MAX_HEADER_COUNT}. */
    maxHeaderCount: positiveInt("maxHeaderCount").default(DEFAULT_MAX_HEADER_COUNT),
    /** Request body bytes (413 beyond). Default {@link DEFAULT_MAX_BODY_BYTES}. */
    maxBodyBytes: positiveInt("maxBodyBytes").default(DEFAULT_MAX_BODY_BYTES),
    /** Request target length (414 beyond). Default {@link DEFAULT_MAX_URL_LENGTH}. */
    maxUrlLength: positiveInt("maxUrlLength").default(DEFAULT_MAX_URL_LENGTH),
    /** Header section read timeout, ms (408). Default {@link DEFAULT_HEADERS_TIMEOUT_MS}. */
    headersTimeoutMs: positiveInt("headersTimeoutMs").default(DEFAULT_HEADERS_TIMEOUT_MS),
    /** Whole-request read timeout, ms (408). Default {@link DEFAULT_REQUEST_TIMEOUT_MS}. */
    requestTimeoutMs: positiveInt("requestTimeoutMs").default(DEFAULT_REQUEST_TIMEOUT_MS),
    /** Idle keep-alive timeout, ms. Default {@link DEFAULT_KEEP_ALIVE_TIMEOUT_MS}. */
    keepAliveTimeoutMs: positiveInt("keepAliveTimeoutMs").default(DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
    /** Read-ahead bound while a response is pending. Default {@link DEFAULT_MAX_PIPELINE_BYTES}. */
    maxPipelineBytes: positiveInt("maxPipelineBytes").default(DEFAULT_MAX_PIPELINE_BYTES),
  })
  .strict();

/** What a user may pass: every field optional. */
export type ServerOptions = z.input<typeof serverOptionsSchema>;
/** What the engine uses: every field present. */
export type ServerLimits = z.output<typeof serverOptionsSchema>;

/** Validates options, throwing an Error that names each wrong option and says what to do. */
export function parseServerOptions(options: unknown, what = "server options"): ServerLimits {
  const result = serverOptionsSchema.safeParse(options ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const path = i.path.join(".");
    if (i.code === "unrecognized_keys") return `unknown option ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new Error(`invalid ${what}: ${problems.join("; ")} (see serverOptionsSchema for every option and its default)`);
}
