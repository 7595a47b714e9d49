// The differential test: one app with real Hono middleware (test/fixtures/differential-app.tsx),
// served by liveframe's serve() and by Bun.serve({ fetch: app.fetch }); every case is sent as raw
// bytes to both and every status, header and body byte must match (test/support/differential.ts
// says what is normalised and which framing differences are allowed, with reasons).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign } from "hono/jwt";
import { BASIC_PASSWORD, BASIC_USER, BEARER_TOKEN, JWT_SECRET } from "./fixtures/differential-app.tsx";
import { differentialSuite, normalize, type DiffCase, type WireRequest } from "./support/differential.ts";

const MiB = 1024 * 1024;
const BIG_FILE_BYTES = 2 * MiB;
let staticDir = "";

function setup(): void {
  staticDir = mkdtempSync(join(tmpdir(), "liveframe-differential-"));
  // Deterministic bytes: any mix-up of ranges or offsets shows.
  const big = new Uint8Array(BIG_FILE_BYTES);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >>> 11)) & 0xff;
  writeFileSync(join(staticDir, "big.bin"), big);
  writeFileSync(join(staticDir, "hello.txt"), "hello from a file\n");
  writeFileSync(join(staticDir, "data.json"), JSON.stringify({ from: "file", n: [1, 2, 3] }));
  writeFileSync(join(staticDir, "index.html"), "<!doctype html><title>static</title><p>static index</p>\n");
  writeFileSync(join(staticDir, "style.css"), "body { color: red }\n");
}

const get = (path: string, headers: [string, string][] = []): WireRequest => ({ method: "GET", path, headers });
/** String, bytes, Blob and Bun.file bodies: Bun.serve always sends them with a Content-Length (no stream-framing allowance). */
const strict: Partial<DiffCase> = { strictFraming: true };
const one = (name: string, request: WireRequest, extra: Partial<DiffCase> = {}): DiffCase => ({ name, request, ...extra });

// Signed once with a fixed iat/exp, so the token (and everything derived from it) is the same for
// both servers: no clock normalisation needed.
const JWT_IAT = 1_700_000_000; // 2023: hono/jwt refuses a token issued in the future
const jwtToken = await sign({ sub: "user-1", role: "admin", iat: JWT_IAT, exp: JWT_IAT + 100 * 365 * 24 * 3600 }, JWT_SECRET, "HS256");
const basic = `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString("base64")}`;

function multipartBody(boundary: string): Uint8Array {
  const fileBytes = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
  const parts: (string | Uint8Array)[] = [
    `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nHello form\r\n`,
    `--${boundary}\r\nContent-Disposition: form-data; name="tag"\r\n\r\none\r\n`,
    `--${boundary}\r\nContent-Disposition: form-data; name="tag"\r\n\r\ntwo\r\n`,
    `--${boundary}\r\nContent-Disposition: form-data; name="upload"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    fileBytes,
    `\r\n--${boundary}\r\nContent-Disposition: form-data; name="note"; filename="note.txt"\r\nContent-Type: text/plain\r\n\r\nsmall text file\r\n`,
    `--${boundary}--\r\n`,
  ];
  return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
}

/** `count` pieces of `size` deterministic bytes, handed out one at a time. */
async function* pieces(count: number, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < count; i++) yield new Uint8Array(size).map((_, j) => (i * 17 + j) & 0xff);
}

function bigJson(): string {
  const rows: { id: number; v: string }[] = [];
  let size = 0;
  for (let id = 0; size < 5_000_000; id++) {
    const row = { id, v: `row ${id} ${"x".repeat(40)}` };
    rows.push(row);
    size += 60;
  }
  return JSON.stringify({ rows });
}

function cases(): DiffCase[] {
  const boundary = "----differential-boundary-7MA4YWxk";
  const json5 = bigJson();
  const chunkedParts = Array.from({ length: 20 }, (_, i) => new Uint8Array(3000 + i).fill(97 + (i % 26)));
  return [
    // baseline
    one("GET / (plain text)", get("/")),
    one("plain text with query", get("/plain/text?q=%3Cscript%3Ealert(1)%3C/script%3E")),
    one("plain json", get("/plain/json")),
    one("plain html", get("/plain/html")),
    one("c.body string", get("/plain/body")),
    one("utf-8 text", get("/plain/utf8")),
    one("empty string body", get("/plain/empty")),
    one("null body", get("/plain/null")),
    // One Response object returned for every request, in this order on both servers.
    ...["text", "empty", "null", "bytes", "blob", "not-modified"].flatMap((kind) =>
      (["GET", "HEAD", "GET"] as const).map((method, i) =>
        one(`the same Response again (${kind}): ${i + 1}. ${method}`, { method, path: `/reused/${kind}` }, i > 0 ? { sentBefore: true } : {}),
      ),
    ),
    one("status 201 text", get("/plain/status-201")),
    one("c.header and append", get("/plain/header")),
    one("route params and repeated query", get("/plain/user/42?tag=a&tag=b")),
    one("request headers as the app sees them", get("/plain/request-headers", [["X-One", "1"], ["accept", "*/*"], ["X-Two", "a"], ["x-two", "b"]])),
    one("request url", get("/plain/url?x=1#frag")),
    one("request url: dot segments", get("/plain/../plain/./url")),
    one("request url: percent-encoded", get("/plain/%75rl?q=%20")),
    one("PUT method", { method: "PUT", path: "/plain/method", body: "x" }),
    one("DELETE without body", { method: "DELETE", path: "/plain/method" }),
    one("PATCH with body", { method: "PATCH", path: "/plain/method", body: "{}" }),
    one("unknown route: notFound", get("/nope/nothing")),
    one("wrong method on a route: notFound", { method: "POST", path: "/plain/text", body: "" }),
    // middleware that touches the response after next()
    one("poweredBy text (XSS case)", get("/mw/powered/text?q=%3Cscript%3Ealert(1)%3C/script%3E")),
    one("poweredBy json", get("/mw/powered/json")),
    one("etag text", get("/mw/etag/text")),
    one("etag json", get("/mw/etag/json")),
    one("etag If-None-Match: 304", get("/mw/etag/text", [["if-none-match", '"30ec53e20ac540da4c6bd69377d3c0cd13a90865"']])),
    one("etag If-None-Match other", get("/mw/etag/text", [["if-none-match", '"x"']])),
    one("secureHeaders text", get("/mw/secure/text?q=hi")),
    one("secureHeaders html", get("/mw/secure/html")),
    one("timing", get("/mw/timing/text"), { normalize: [normalize.serverTiming] }),
    one("c.res.headers.set after next()", get("/mw/set-after/text?q=%3Cb%3Ex")),
    one("res.headers.set on new Response", get("/mw/set-after/new-response"), strict),
    one("c.res.headers.set after next(), 180 KB string", get("/mw/set-after/big"), strict),
    one("set after next, async handler", get("/mw/set-after/async")),
    // cors
    one("cors simple, allowed origin", get("/cors/data", [["origin", "https://a.example"]])),
    one("cors simple, other origin", get("/cors/data", [["origin", "https://evil.example"]])),
    one("cors preflight", {
      method: "OPTIONS",
      path: "/cors/data",
      headers: [["origin", "https://b.example"], ["access-control-request-method", "PUT"], ["access-control-request-headers", "x-token"]],
    }),
    one("cors preflight, open cors()", {
      method: "OPTIONS",
      path: "/cors-open/data",
      headers: [["origin", "https://x.example"], ["access-control-request-method", "GET"]],
    }),
    one("OPTIONS without cors: notFound", { method: "OPTIONS", path: "/plain/text" }),
    one("OPTIONS *", { method: "OPTIONS", path: "*" }),
    // basic auth
    one("basic auth missing", get("/auth/secret")),
    one("basic auth wrong", get("/auth/secret", [["authorization", "Basic d3Jvbmc6d3Jvbmc="]])),
    one("basic auth right", get("/auth/secret", [["authorization", basic]])),
    // jwt
    one("jwt missing", get("/jwt/me")),
    one("jwt bad", get("/jwt/me", [["authorization", "Bearer not.a.token"]])),
    one("jwt good", get("/jwt/me", [["authorization", `Bearer ${jwtToken}`]])),
    // compress
    // A string body is always sent with a Content-Length by Bun.serve, whatever touched its headers.
    one("compress gzip, untyped c.text (not compressed)", get("/compress/text", [["accept-encoding", "gzip"]]), strict),
    one("compress deflate, untyped c.text (not compressed)", get("/compress/text", [["accept-encoding", "deflate"]]), strict),
    one("compress gzip typed text", get("/compress/typed-text", [["accept-encoding", "gzip"]])),
    one("compress deflate typed text", get("/compress/typed-text", [["accept-encoding", "deflate"]])),
    one("compress gzip html", get("/compress/html", [["accept-encoding", "gzip"]])),
    one("compress q-values prefer deflate", get("/compress/html", [["accept-encoding", "gzip;q=0.5, deflate"]])),
    one("compress gzip json", get("/compress/json", [["accept-encoding", "gzip, deflate, br"]])),
    one("compress not accepted", get("/compress/text"), strict),
    one("compress not accepted, typed", get("/compress/typed-text"), strict),
    one("compress below threshold", get("/compress/small", [["accept-encoding", "gzip"]])),
    one("compress a stream", get("/compress/stream", [["accept-encoding", "gzip"]])),
    one("HEAD compress", { method: "HEAD", path: "/compress/text", headers: [["accept-encoding", "gzip"]] }),
    // streaming and SSE
    one("stream() bytes", get("/stream/bytes")),
    one("streamText", get("/stream/text")),
    one("stream() one chunk", get("/stream/one")),
    one("stream() nothing", get("/stream/empty")),
    one("streamSSE", get("/stream/sse")),
    one("ReadableStream 60 KB", get("/stream/raw")),
    one("ReadableStream through TextEncoderStream", get("/stream/raw-typed")),
    one("HTTP/1.0 stream", { ...get("/stream/bytes"), version: "1.0" }),
    one("HEAD on a stream", { method: "HEAD", path: "/stream/bytes" }),
    // cookies
    one("setCookie", get("/cookie/set")),
    one("setSignedCookie", get("/cookie/signed")),
    one("read cookies, signed too", get("/cookie/read", [["cookie", "plain=one; second=two%20words; session=user-42.bad-signature"]])),
    one("deleteCookie", get("/cookie/delete")),
    // JSX and html
    one("JSX page", get("/jsx/page?name=%3Cb%3E")),
    one("JSX async component", get("/jsx/async")),
    one("jsxRenderer", get("/jsx/rendered/page")),
    one("html helper escapes", get("/html/helper")),
    // zod-validator
    one("zValidator json ok", { method: "POST", path: "/validate/json", headers: [["content-type", "application/json"]], body: '{"name":"Ada","age":36}' }),
    one("zValidator json invalid", { method: "POST", path: "/validate/json", headers: [["content-type", "application/json"]], body: '{"name":"","age":-1}' }),
    one("zValidator json malformed", { method: "POST", path: "/validate/json", headers: [["content-type", "application/json"]], body: '{"name":' }),
    one("zValidator query ok", get("/validate/query?page=3")),
    one("zValidator query invalid", get("/validate/query?page=zero")),
    one("zValidator form (urlencoded)", { method: "POST", path: "/validate/form", headers: [["content-type", "application/x-www-form-urlencoded"]], body: "title=Hi+there&tags=a%2Cb" }),
    // serveStatic and Bun.file
    one("serveStatic text file", get("/static/hello.txt"), strict),
    one("serveStatic index.html", get("/static/"), strict),
    one("serveStatic css", get("/static/style.css"), strict),
    one("serveStatic 2 MiB file", get("/static/big.bin"), strict),
    one("serveStatic Range bytes=0-99", get("/static/big.bin", [["range", "bytes=0-99"]]), strict),
    one("serveStatic Range mid", get("/static/big.bin", [["range", "bytes=1000000-1000999"]]), strict),
    one("serveStatic Range suffix", get("/static/big.bin", [["range", "bytes=-500"]]), strict),
    one("serveStatic Range open-ended", get("/static/big.bin", [["range", `bytes=${BIG_FILE_BYTES - 10}-`]]), strict),
    one("serveStatic Range unsatisfiable", get("/static/big.bin", [["range", `bytes=${BIG_FILE_BYTES + 10}-${BIG_FILE_BYTES + 20}`]]), strict),
    one("serveStatic Range multiple", get("/static/big.bin", [["range", "bytes=0-9,20-29"]]), strict),
    one("serveStatic missing file", get("/static/missing.txt")),
    one("serveStatic traversal", get("/static/../../etc/passwd")),
    one("HEAD serveStatic 2 MiB", { method: "HEAD", path: "/static/big.bin" }, strict),
    one("new Response(Bun.file) 2 MiB", get("/file/big"), strict),
    one("new Response(Bun.file) Range", get("/file/big", [["range", "bytes=100-199"]]), strict),
    one("new Response(Bun.file) text", get("/file/text"), strict),
    one("new Response(Bun.file) with content-type", get("/file/typed"), strict),
    one("c.body(Bun.file().stream())", get("/file/c-body")),
    one("new Response(Bun.file) missing", get("/file/missing")),
    one("HEAD Bun.file", { method: "HEAD", path: "/file/big" }, strict),
    // uploads
    one("multipart upload", { method: "POST", path: "/upload/multipart", headers: [["content-type", `multipart/form-data; boundary=${boundary}`]], body: multipartBody(boundary) }),
    one("5 MB JSON body", { method: "POST", path: "/upload/json", headers: [["content-type", "application/json"]], body: json5 }, { timeoutMs: 20_000 }),
    one("chunked upload", { method: "POST", path: "/upload/digest", chunks: chunkedParts }),
    one("chunked upload streamed", { method: "POST", path: "/upload/stream-count", chunks: chunkedParts }),
    { name: "chunked upload with a trailer field", raw: { bytes: "POST /upload/digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n" } },
    { name: "chunked upload with a chunk extension", raw: { bytes: "POST /upload/digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n" } },
    one("chunked upload, no chunks", { method: "POST", path: "/upload/digest", chunks: [] }),
    one("100-continue upload", { method: "POST", path: "/upload/digest", body: "x".repeat(100_000), expectContinue: true }),
    one("100-continue to a route refusing (401)", { method: "POST", path: "/auth/upload", body: "x".repeat(10_000), expectContinue: true }),
    one("100-continue small echo", { method: "POST", path: "/upload/echo", headers: [["content-type", "text/plain"]], body: "tiny", expectContinue: true }),
    one("echo binary body", { method: "POST", path: "/upload/echo", headers: [["content-type", "application/octet-stream"]], body: new Uint8Array(256).map((_, i) => i) }),
    one("text body", { method: "POST", path: "/upload/text", body: "héllo" }),
    one("unread body then keep-alive", { method: "POST", path: "/upload/ignore", body: "ignored body" }),
    one("streamed 1 MiB chunked upload", { method: "POST", path: "/upload/digest", stream: () => pieces(16, 65_536) }),
    one("streamed 1 MiB upload with Content-Length", { method: "POST", path: "/upload/stream-count", headers: [["content-length", String(16 * 65_536)]], stream: () => pieces(16, 65_536) }),
    one("streamed upload the handler never reads", { method: "POST", path: "/upload/ignore", headers: [["content-length", String(8 * 65_536)]], stream: () => pieces(8, 65_536) }),
    one("unread large body", { method: "POST", path: "/upload/ignore", body: new Uint8Array(300_000) }),
    one("formData urlencoded", { method: "POST", path: "/upload/form", headers: [["content-type", "application/x-www-form-urlencoded"]], body: "a=1&b=two+words" }),
    one("formData multipart", { method: "POST", path: "/upload/form", headers: [["content-type", `multipart/form-data; boundary=${boundary}`]], body: multipartBody(boundary) }),
    // redirects
    one("c.redirect default", get("/redirect/default")),
    one("c.redirect 301", get("/redirect/301")),
    one("Response.redirect absolute", get("/redirect/absolute")),
    one("c.redirect 308 absolute", get("/redirect/308")),
    // errors
    one("handler throws: onError", get("/error/throw")),
    one("async handler throws: onError", get("/error/async-throw")),
    one("HTTPException", get("/error/http-exception")),
    one("HTTPException with res", get("/error/http-exception-res")),
    one("invalid header name in new Response: onError", get("/error/invalid-header-name")),
    one("invalid header value in new Response", get("/error/invalid-header-value")),
    one("status 600 in new Response", get("/error/invalid-status")),
    one("status 101 in new Response", get("/error/status-1xx")),
    one("body with status 204 in new Response", get("/error/body-on-204")),
    one("body with status 304 in new Response", get("/error/body-on-304")),
    one("handler returns undefined", get("/error/returns-undefined")),
    one("error that onError rethrows: the server's own 500", get("/error/unhandled")),
    // statuses
    ...[200, 203, 205, 206, 207, 208, 226, 299, 302, 305, 400, 413, 418, 422, 451, 500, 507, 511, 599].map((code) => one(`status ${code}`, get(`/status/${code}`))),
    ...[203, 207, 418, 451].map((code) => one(`c.text with status ${code}`, get(`/status-hono/${code}`))),
    one("c.body(null, 204)", get("/status-hono/204")),
    one("c.body(null, 304)", get("/status-hono/304")),
    // Fetch API bodies and helpers
    one("Response.json", get("/fetch/response-json")),
    one("Response.json with init", get("/fetch/response-json-init")),
    one("URLSearchParams body", get("/fetch/search-params")),
    one("FormData body", get("/fetch/form-data"), { normalize: [normalize.multipartBoundary] }),
    one("Blob body with type", get("/fetch/blob-typed"), strict),
    one("Blob body without type", get("/fetch/blob-untyped"), { ...strict, untypedBlob: true }),
    one("ArrayBuffer body", get("/fetch/array-buffer")),
    one("Uint8Array body", get("/fetch/uint8")),
    one("DataView body", get("/fetch/dataview")),
    one("Headers object", get("/fetch/headers-object")),
    one("Response.clone", get("/fetch/clone")),
    one("new Response(await res.text(), res)", get("/fetch/text-then-new")),
    one("statusText", get("/fetch/status-text")),
    one("getConnInfo (hono/bun)", get("/fetch/conn-info")),
    // what an app can observe
    one("Response class facts", get("/introspect/classes")),
    one("Response class facts across an await", get("/introspect/classes-after-await")),
    one("Request facts", get("/introspect/request")),
    one("new Request(url, c.req.raw) on a POST", { method: "POST", path: "/introspect/new-request", headers: [["content-type", "text/plain"]], body: "posted body" }),
    one("new Request(url, c.req.raw) on a chunked POST", { method: "POST", path: "/introspect/new-request", headers: [["content-type", "text/plain"]], chunks: ["chunked ", "posted ", "body"] }),
    one("new Request(url, c.req.raw) on a 300 KB POST", { method: "POST", path: "/introspect/new-request-length", body: new Uint8Array(300_000).fill(7) }),
    one("c.req.raw.clone() on a POST", { method: "POST", path: "/introspect/clone-request", body: "clone me" }),
    one("returning a Response subclass", get("/introspect/subclass-returned")),
    // what reaches the wire for tricky responses
    one("204 with a header", get("/engine/204")),
    one("304 with app Content-Length", get("/engine/304")),
    one("205", get("/engine/205")),
    one("app Content-Length right", get("/engine/content-length-right")),
    one("app Content-Length too short", get("/engine/content-length-short")),
    one("app Transfer-Encoding", get("/engine/transfer-encoding")),
    one("app Connection: close", get("/engine/connection-close")),
    one("app Keep-Alive header", get("/engine/keep-alive-header")),
    one("several Set-Cookie", get("/engine/set-cookies")),
    one("header name casing", get("/engine/casing")),
    one("header order (record)", get("/engine/order")),
    one("header order (Headers)", get("/engine/order-headers")),
    one("app Date header", get("/engine/app-date")),
    one("app Server header", get("/engine/server-header")),
    one("latin-1 header value", get("/engine/latin1-value")),
    one("empty header value", get("/engine/empty-value")),
    one("padded header value", get("/engine/padded-value")),
    one("1 MiB body", get("/engine/big")),
    one("stream with no chunks", get("/engine/stream-no-chunks")),
    one("HEAD on a GET route", { method: "HEAD", path: "/engine/head-route" }),
    one("HEAD text", { method: "HEAD", path: "/" }),
    one("HEAD with app Content-Length", { method: "HEAD", path: "/engine/content-length-right" }),
    one("HEAD serveStatic text file", { method: "HEAD", path: "/static/hello.txt" }, strict),
    one("HEAD json", { method: "HEAD", path: "/plain/json" }),
    one("HEAD notFound", { method: "HEAD", path: "/nope" }),
    one("HEAD poweredBy text", { method: "HEAD", path: "/mw/powered/text" }),
    // HTTP/1.0
    one("HTTP/1.0 GET", { ...get("/"), version: "1.0", noHost: true }),
    one("HTTP/1.0 keep-alive", { ...get("/plain/json", [["connection", "keep-alive"]]), version: "1.0" }),
    one("HTTP/1.0 POST", { method: "POST", path: "/upload/text", version: "1.0", body: "ten-oh" }),
    one("HTTP/1.0 HEAD", { method: "HEAD", path: "/", version: "1.0" }),
    one("HTTP/1.0 404", { ...get("/nope"), version: "1.0" }),
    // connection management
    one("Connection: close from the client", get("/", [["connection", "close"]])),
    {
      name: "pipelined GETs",
      pipeline: [get("/"), get("/plain/json"), get("/nope"), get("/mw/etag/text")],
    },
    {
      name: "pipelined with a POST and a HEAD",
      pipeline: [get("/plain/user/1"), { method: "POST", path: "/upload/text", body: "in the middle" }, { method: "HEAD", path: "/" }, get("/plain/user/2")],
    },
    {
      name: "pipelined chunked upload then GET",
      pipeline: [{ method: "POST", path: "/upload/digest", chunks: ["abc", "defg"] }, get("/")],
    },
    // more middleware (sub-app mounted with app.route)
    one("bearerAuth missing", get("/more/bearer/data")),
    one("bearerAuth wrong", get("/more/bearer/data", [["authorization", "Bearer nope"]])),
    one("bearerAuth right", get("/more/bearer/data", [["authorization", `Bearer ${BEARER_TOKEN}`]])),
    one("csrf allowed origin", { method: "POST", path: "/more/csrf/form", headers: [["origin", "https://a.example"], ["content-type", "application/x-www-form-urlencoded"]], body: "a=1" }),
    one("csrf other origin", { method: "POST", path: "/more/csrf/form", headers: [["origin", "https://evil.example"], ["content-type", "application/x-www-form-urlencoded"]], body: "a=1" }),
    one("requestId from the client", get("/more/rid/echo", [["x-request-id", "client-given-id-1"]])),
    one("requestId generated", get("/more/rid/echo"), {
      normalize: [
        normalize.headerValue("x-request-id", /^[0-9a-f-]{36}$/, "<uuid>", "requestId() makes a random UUID per request"),
        normalize.bodyText(/"[0-9a-f-]{36}"/, '"<uuid>"', "requestId() makes a random UUID per request"),
      ],
    }),
    one("prettyJSON off", get("/more/pretty/data")),
    one("prettyJSON on", get("/more/pretty/data?pretty")),
    one("bodyLimit under", { method: "POST", path: "/more/limit/upload", body: "x".repeat(1000) }),
    one("bodyLimit over (Content-Length)", { method: "POST", path: "/more/limit/upload", body: "x".repeat(5000) }),
    one("bodyLimit over (chunked)", { method: "POST", path: "/more/limit/upload", chunks: ["x".repeat(800), "y".repeat(800)] }),
    one("trimTrailingSlash redirect", get("/more/slash/page/")),
    one("trimTrailingSlash exact", get("/more/slash/page")),
    one("methodOverride form _method=DELETE", { method: "POST", path: "/more/override/item", headers: [["content-type", "application/x-www-form-urlencoded"]], body: "_method=DELETE" }),
    one("ipRestriction (getConnInfo)", get("/more/ip/data")),
    one("timeout", get("/more/timeout/slow")),
    one("languageDetector de", get("/more/lang/which", [["accept-language", "de-DE,de;q=0.9,en;q=0.5"]])),
    one("languageDetector fallback", get("/more/lang/which", [["accept-language", "xx"]])),
    one("methodNotAllowed", { method: "PUT", path: "/more/mna/thing", body: "" }),
    one("accepts helper", get("/more/accepts", [["accept-language", "ja;q=0.9, zh;q=0.8"]])),
    one("validator ok", { method: "POST", path: "/more/validator", headers: [["content-type", "application/json"]], body: '{"n":21}' }),
    one("validator refuses", { method: "POST", path: "/more/validator", headers: [["content-type", "application/json"]], body: '{"n":"x"}' }),
    one("basePath nested sub-app", get("/more/nested/base/leaf")),
    // request-line and header edge cases an app can observe
    { name: "absolute-form target", raw: { bytes: "GET http://example.com/plain/url?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n" } },
    { name: "absolute-form with percent-encoded host", raw: { bytes: "GET http://a%41/plain/url HTTP/1.1\r\nHost: x\r\n\r\n" } },
    { name: "absolute-form with empty port", raw: { bytes: "GET http://x:/plain/url HTTP/1.1\r\nHost: x\r\n\r\n" } },
    { name: "absolute-form IPv6 default port", raw: { bytes: "GET http://[::1]:80/plain/url HTTP/1.1\r\nHost: x\r\n\r\n" } },
    { name: "Host with port", raw: { bytes: "GET /plain/url HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" } },
    { name: "Host upper case", raw: { bytes: "GET /plain/url HTTP/1.1\r\nHost: EXAMPLE.com\r\n\r\n" } },
    { name: "lower-case method", raw: { bytes: "get /plain/method HTTP/1.1\r\nHost: t\r\n\r\n" } },
    { name: "extension method", raw: { bytes: "FOO /plain/method HTTP/1.1\r\nHost: t\r\n\r\n" } },
    { name: "5000-character method", raw: { bytes: `${"A".repeat(5000)} /plain/method HTTP/1.1\r\nHost: t\r\n\r\n` } },
    one("GET with a body", { method: "GET", path: "/plain/text", body: "a body on a GET" }),
    { name: "Transfer-Encoding: chunked + NBSP", raw: { bytes: "POST /upload/digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\xa0\r\n\r\n3\r\nabc\r\n0\r\n\r\n" } },
    { name: "Transfer-Encoding: NBSP + chunked", raw: { bytes: "POST /upload/digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \xa0chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" } },
    { name: "Connection: close + NBSP", raw: { bytes: "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\xa0\r\n\r\n" } },
    { name: "Content-Length and Transfer-Encoding both", raw: { bytes: "POST /upload/digest HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" } },
    { name: "obs-fold header", raw: { bytes: "GET /plain/request-headers HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n" } },
    { name: "missing Host in HTTP/1.1", raw: { bytes: "GET /plain/url HTTP/1.1\r\n\r\n" } },
  ];
}

differentialSuite(
  "liveframe serve() answers as Bun.serve does",
  () => ({ module: join(import.meta.dir, "fixtures/differential-app.tsx"), env: { LIVEFRAME_DIFF_STATIC_DIR: staticDir } }),
  cases,
  { setup, teardown: () => staticDir && rmSync(staticDir, { recursive: true, force: true }) },
);
