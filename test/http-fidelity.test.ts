// Response fidelity: the same Hono app served by liveframe's serve() and by Bun.serve in the same
// test, compared byte for byte on the wire (status, every header but Date, body), for every body
// kind, HEAD, files with Range, and what app code can observe of the Response class.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { serveStatic } from "hono/bun";
import { serve, type HttpServer } from "../src/http/index.ts";
import { RawClient, type WireResponse } from "./http-support.ts";

const dir = mkdtempSync(join(tmpdir(), "liveframe-fidelity-"));
const MiB = 1024 * 1024;
const big = new Uint8Array(2 * MiB);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
writeFileSync(join(dir, "big.bin"), big);
writeFileSync(join(dir, "a.txt"), "hello\n");
writeFileSync(join(dir, "t.zip"), "zip!");
writeFileSync(join(dir, "empty"), "");
writeFileSync(join(dir, "page.html"), "<p>static</p>\n");

function makeApp() {
  const app = new Hono();
  // The XSS case: middleware touching the headers after next() must not lose the default type.
  app.use("*", async (c, next) => {
    await next();
    // /fields/* is left alone: there the fields a Response was built with are sent unread.
    if (!c.req.path.startsWith("/fields/")) c.res.headers.set("x-powered-by", "x");
  });
  // Fields given as a plain object are sent as given, unless they changed since construction
  // (response-source.ts, headersAre): every way to change or disguise them.
  app.get("/fields/json", (c) => c.json({ a: 1 }));
  app.get("/fields/json-201", (c) => c.json({ a: 1 }, 201));
  app.get("/fields/text-init", () => new Response("<b>x</b>", { status: 200, headers: { "x-a": "1" } }));
  app.get("/fields/null-body", () => new Response(null, { headers: { "x-a": "1" } }));
  app.get("/fields/mutated", () => {
    const r = new Response("<b>x</b>", { headers: { "content-type": "text/html", "x-a": "1" } });
    r.headers.delete("content-type");
    r.headers.append("x-a", "2");
    r.headers.set("x-b", "3");
    return r;
  });
  app.get("/fields/mutated-after-await", async () => {
    const r = new Response("<i>x</i>", { headers: { "content-type": "text/html" } });
    await Bun.sleep(1);
    r.headers.delete("content-type");
    return r;
  });
  app.get("/fields/case-dup", () => new Response("x", { headers: { "X-Dup": "1", "x-dup": "2" } }));
  app.get("/fields/padded", () => new Response("x", { headers: { "x-pad": " \tv w\t " } }));
  app.get("/fields/inherited", () => new Response("x", { headers: Object.create({ "x-inherited": "1" }, { "x-own": { value: "2", enumerable: true } }) }));
  app.get("/fields/hidden", () => new Response("x", { headers: Object.defineProperty({ "x-a": "1" }, "x-hidden", { value: "2", enumerable: false }) }));
  app.get("/fields/number", () => new Response("x", { headers: { "x-n": 5 } as unknown as Record<string, string> }));
  app.get("/fields/array-init", () => new Response("x", { headers: [["x-a", "1"], ["x-a", "2"]] }));
  app.get("/fields/latin1", () => new Response("x", { headers: { "x-l": "caf\u00e9" } }));
  app.get("/fields/close", () => new Response("x", { headers: { connection: "close" } }));
  app.get("/fields/length", () => new Response("four", { headers: { "content-length": "99" } }));
  app.get("/fields/status-only", () => new Response("<p>", { status: 202 }));
  app.get("/fields/getter", () => new Response("x", { headers: { get "x-g"() { return "g"; } } }));
  app.get("/fields/getter-init", () => new Response("x", { get headers() { return { "x-h": "h" }; } }));
  app.get("/fields/proxy", () => new Response("x", { headers: new Proxy({ "x-p": "p" }, {}) }));
  app.onError((err, c) => c.text(`onError: ${err.name}`, 500));
  app.get("/echo", (c) => c.text(c.req.query("q") ?? ""));
  app.get("/plain", () => new Response("<script>alert(1)</script>"));
  app.get("/plain-set", () => {
    const r = new Response("<b>x</b>");
    r.headers.set("x-a", "1");
    return r;
  });
  app.get("/json", (c) => c.json({ a: 1 }));
  app.get("/response-json", () => Response.json({ b: 2 }));
  app.get("/usp", () => new Response(new URLSearchParams("a=1&b=2")));
  app.get("/form", () => {
    const f = new FormData();
    f.append("a", "1");
    return new Response(f);
  });
  app.get("/blob", () => new Response(new Blob(["abc"], { type: "text/x-foo" })));
  app.get("/blob-bytes", () => new Response(new Blob([new Uint8Array([0, 1, 2, 255])])));
  app.get("/ab", () => new Response(new ArrayBuffer(3)));
  app.get("/u8", () => new Response(new Uint8Array([104, 105])));
  app.get("/u8-mutated", () => {
    const u = new Uint8Array([1, 2, 3]);
    const r = new Response(u);
    u[0] = 9; // the runtime copied the body at construction: 1 is sent
    return r;
  });
  app.get("/empty-string", () => new Response(""));
  app.get("/null", () => new Response(null));
  app.get("/null-length", () => new Response(null, { headers: { "content-length": "42" } }));
  app.get("/string-length", () => new Response("hi", { headers: { "content-length": "42" } }));
  app.get("/not-modified", () => new Response(null, { status: 304, headers: { "content-length": "42" } }));
  app.get("/no-content", () => new Response(null, { status: 204 }));
  app.get("/stream", () => new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("xy")); c.close(); } })));
  app.get("/copy", () => {
    const r = new Response("hi");
    return new Response(r.body, r);
  });
  app.get("/hono-copy", async (c, next) => {
    c.res = new Response("first");
    // Replacing c.res makes Hono copy the new one through `new Response(res.body, res)`.
    c.res = new Response("replaced", { headers: { "x-copied": "1" } });
  });
  app.get("/file/:name", (c) => new Response(Bun.file(join(dir, c.req.param("name")))));
  app.get("/file-typed", () => new Response(Bun.file(join(dir, "a.txt")), { headers: { "content-type": "x/y" } }));
  app.get("/file-201", () => new Response(Bun.file(join(dir, "big.bin")), { status: 201 }));
  app.get("/web-file", () => new Response(new File(["abcdefgh"], "x.zip", { type: "application/zip" })));
  app.use("/static/*", serveStatic({ root: dir, rewriteRequestPath: (p) => p.replace(/^\/static/, "") }));
  // What app code can observe of the Response class.
  app.get("/class", (c) => {
    const r = new Response("x");
    class Mine extends Response {}
    const m = new Mine("m");
    return c.json({
      name: r.constructor.name,
      ctorIsGlobal: r.constructor === Response,
      instance: r instanceof Response,
      json: Response.json({}) instanceof Response,
      redirect: Response.redirect("http://x/", 302) instanceof Response,
      error: Response.error() instanceof Response,
      mine: m instanceof Mine && m instanceof Response,
      nativeIsNotMine: !(Response.json({}) instanceof Mine),
      mineOwnSymbols: Object.getOwnPropertySymbols(Mine).length,
      hasInstanceIsFunctionPrototypes: Response[Symbol.hasInstance] === Function.prototype[Symbol.hasInstance],
      ownKeys: Reflect.ownKeys(r).length,
      nativeCode: Function.prototype.toString.call(Response).includes("[native code]"),
      responseName: Response.name,
      protoIsGlobal: Object.getPrototypeOf(r) === Response.prototype,
    });
  });
  app.get("/class-after-await", async (c) => {
    const Before = Response;
    const r1 = new Response("1");
    await Bun.sleep(1);
    const r2 = new Response("2");
    const fetched = await fetch("data:text/plain,hi");
    return c.json({
      same: Before === Response,
      sameProto: Object.getPrototypeOf(r1) === Object.getPrototypeOf(r2),
      fetched: fetched instanceof Response,
    });
  });
  app.get("/subclass-getters", () => {
    // Bun.serve sends what the Response holds, not what an overriding getter says.
    class Mine extends Response {}
    Object.defineProperty(Mine.prototype, "status", { get: () => 404 });
    Object.defineProperty(Mine.prototype, "headers", { get: () => new Headers({ "x-fake": "1" }) });
    return new Mine("body", { headers: { "x-real": "1" } });
  });
  app.get("/bad-header", () => new Response("x", { headers: { "bad name": "v" } }));
  app.post("/clone-request", async (c) => {
    const copy = new Request("http://x/copy", c.req.raw);
    return c.text(`${copy.method} ${await copy.text()}`);
  });
  app.post("/clone-after-read", async (c) => {
    const seen = await c.req.text();
    let outcome: string;
    try {
      const copy = new Request("http://x/copy", c.req.raw);
      outcome = `cloned ${await copy.text()}`;
    } catch (err) {
      outcome = `threw ${(err as Error).name}`;
    }
    return c.text(`${seen} ${outcome} ${c.req.raw.bodyUsed}`);
  });
  app.post("/clone-json-validator-style", async (c) => {
    const body = await c.req.json();
    const copy = new Request("http://x/copy", { method: "POST", headers: c.req.raw.headers, body: JSON.stringify(body) });
    return c.text(await copy.text());
  });
  return app;
}

let ours: HttpServer;
let bun: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  const app = makeApp();
  ours = serve(app, { port: 0, hostname: "127.0.0.1" });
  bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
});
afterAll(async () => {
  await ours.stop({ graceful: false });
  bun.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** One request on a fresh connection, as raw bytes; the response as read off the wire. */
async function exchange(port: number, method: string, path: string, extra = "", body = ""): Promise<WireResponse & { raw: string }> {
  const c = await RawClient.connect(port);
  try {
    const len = body !== "" && !/transfer-encoding/i.test(extra) ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : "";
    c.write(`${method} ${path} HTTP/1.1\r\nHost: t\r\n${extra}${len}\r\n${body}`);
    const r = await c.response({ head: method === "HEAD", timeoutMs: 20_000 });
    return { ...r, raw: JSON.stringify(r.headers) };
  } finally {
    c.close();
  }
}

/** Both servers answer; the fields that matter, without Date. */
async function both(method: string, path: string, extra = "", body = "") {
  const [a, b] = await Promise.all([exchange(ours.port, method, path, extra, body), exchange(bun.port!, method, path, extra, body)]);
  const view = (r: WireResponse) => {
    const { date, ...headers } = r.headers;
    // Bun.serve generates a fresh multipart boundary per response: compare its shape only.
    for (const k of Object.keys(headers)) headers[k] = headers[k]!.replace(/boundary=-+WebKitFormBoundary[0-9a-f]+/, "boundary=B");
    return { status: r.status, headers, body: r.body.toString("latin1").replace(/-+WebKitFormBoundary[0-9a-f]+/g, "B") };
  };
  return { ours: view(a), bun: view(b), oursRaw: a };
}

describe("bodies are sent as Bun.serve sends them (GET and HEAD)", () => {
  const paths = [
    "/echo?q=%3Cscript%3Ealert(1)%3C/script%3E", "/plain", "/plain-set", "/json", "/response-json", "/usp", "/form", "/blob",
    "/blob-bytes", "/ab", "/u8", "/u8-mutated", "/empty-string", "/null", "/null-length", "/string-length", "/not-modified",
    "/no-content", "/stream", "/copy", "/hono-copy", "/file/big.bin", "/file/a.txt", "/file/t.zip", "/file/empty",
    "/file/page.html", "/file-typed", "/web-file", "/subclass-getters", "/static/page.html", "/static/big.bin",
  ];
  for (const method of ["GET", "HEAD"]) {
    for (const path of paths) {
      test(`${method} ${path}`, async () => {
        const r = await both(method, path);
        expect(r.ours).toEqual(r.bun);
      });
    }
  }

  const fieldPaths = [
    "/fields/json", "/fields/json-201", "/fields/text-init", "/fields/null-body", "/fields/mutated", "/fields/mutated-after-await",
    "/fields/case-dup", "/fields/padded", "/fields/inherited", "/fields/hidden", "/fields/number", "/fields/array-init",
    "/fields/latin1", "/fields/close", "/fields/length", "/fields/status-only", "/fields/getter", "/fields/getter-init",
    "/fields/proxy",
  ];
  for (const method of ["GET", "HEAD"]) {
    test(`${method}: fields given at construction are sent as the runtime holds them, however they were given or changed`, async () => {
      for (const path of fieldPaths) {
        const r = await both(method, path);
        expect({ path, ...r.ours }).toEqual({ path, ...r.bun });
      }
    });
  }

  test("the XSS case is served text/plain;charset=utf-8", async () => {
    const r = await both("GET", "/echo?q=%3Cscript%3E");
    expect(r.ours.headers["content-type"]).toBe("text/plain;charset=utf-8");
    expect(r.ours.headers["x-powered-by"]).toBe("x");
    expect(r.ours.body).toBe("<script>");
  });

  test("a 2 MiB file goes out with Content-Length, not chunked, byte for byte", async () => {
    const r = await both("GET", "/file/big.bin");
    expect(r.ours.headers["content-length"]).toBe(String(2 * MiB));
    expect(r.ours.headers["transfer-encoding"]).toBeUndefined();
    expect(Buffer.from(r.ours.body, "latin1").equals(Buffer.from(big))).toBe(true);
  });
});

describe("Range on Bun.file bodies as Bun.serve answers it", () => {
  const ranges = [
    "bytes=0-9", "bytes=2097150-", "bytes=-5", "bytes=5-2", "bytes=3000000-", "bytes=0-3000000", "bytes=0-1,5-6",
    "items=0-1", "bytes=-0", "bytes=abc", "bytes= 0-1", "bytes=0-1 ",
  ];
  for (const range of ranges) {
    test(`GET Range: ${range}`, async () => {
      const r = await both("GET", "/file/big.bin", `Range: ${range}\r\n`);
      expect(r.ours).toEqual(r.bun);
    });
  }
  const cases: [string, string, string][] = [
    ["HEAD", "/file/big.bin", "Range: bytes=0-9\r\n"],
    ["HEAD", "/file/big.bin", "Range: bytes=3000000-\r\n"],
    ["GET", "/file-201", "Range: bytes=0-9\r\n"],
    ["GET", "/blob", "Range: bytes=0-1\r\n"],
    ["GET", "/web-file", "Range: bytes=0-1\r\n"],
    ["GET", "/file/empty", "Range: bytes=0-1\r\n"],
    ["GET", "/file/big.bin", "Range: bytes=0-9\r\nIf-Range: \"x\"\r\n"],
    ["GET", "/file/big.bin", "Range: bytes=0-9\r\nRange: bytes=1-2\r\n"],
    ["GET", "/static/big.bin", "Range: bytes=100-199\r\n"],
    ["GET", "/static/big.bin", "Range: bytes=9999999-\r\n"],
    ["HEAD", "/static/big.bin", "Range: bytes=100-199\r\n"],
  ];
  for (const [method, path, extra] of cases) {
    test(`${method} ${path} ${JSON.stringify(extra)}`, async () => {
      const r = await both(method, path, extra);
      expect(r.ours).toEqual(r.bun);
    });
  }

  test("206 and 416 carry the right bytes and Content-Range", async () => {
    const part = await both("GET", "/static/big.bin", "Range: bytes=100-199\r\n");
    expect(part.ours.status).toBe(206);
    expect(part.ours.headers["content-range"]).toBe(`bytes 100-199/${2 * MiB}`);
    expect(Buffer.from(part.ours.body, "latin1").equals(Buffer.from(big.subarray(100, 200)))).toBe(true);
    const none = await both("GET", "/file/big.bin", "Range: bytes=3000000-\r\n");
    expect(none.ours.status).toBe(416);
    expect(none.ours.headers["content-range"]).toBe(`bytes */${2 * MiB}`);
  });
});

test("pipelined on one connection: a file (sendfile), a string, a range, a small file: in order, byte for byte", async () => {
  // Checked against the expected bytes, not Bun.serve: Bun 1.4.5 closes a connection that has a
  // request pipelined behind one with an async handler (serveStatic awaits file.exists()),
  // before answering either (measured).
  const c = await RawClient.connect(ours.port);
  try {
    c.write(
      "GET /file/big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n" +
        "GET /static/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-1999\r\n\r\nGET /file/t.zip HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    const file = await c.response({ timeoutMs: 20_000 });
    expect(file.status).toBe(200);
    expect(file.body.equals(Buffer.from(big))).toBe(true);
    expect((await c.response()).body.toString()).toBe("<script>alert(1)</script>");
    const part = await c.response({ timeoutMs: 20_000 });
    expect(part.status).toBe(206);
    expect(part.body.equals(Buffer.from(big.subarray(1000, 2000)))).toBe(true);
    expect((await c.response()).body.toString()).toBe("zip!");
  } finally {
    c.close();
  }
});

test("a file to a client that stops reading, then reads: whole and in order", async () => {
  const c = await RawClient.connect(ours.port);
  try {
    c.socket.pause(); // the kernel buffers fill; sendfile meets EAGAIN and waits for drain
    c.write("GET /file/big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    await c.flushed();
    await Bun.sleep(50); // let the server hit a full socket (the test holds either way)
    c.socket.resume();
    const file = await c.response({ timeoutMs: 20_000 });
    expect(file.body.equals(Buffer.from(big))).toBe(true);
    expect((await c.response()).body.toString()).toBe("<script>alert(1)</script>");
  } finally {
    c.close();
  }
});

describe("the Response class is the runtime's, before and after an await", () => {
  test("constructor name, instanceof (runtime-made and user subclasses), no leaked hasInstance", async () => {
    const r = await both("GET", "/class");
    expect(r.ours).toEqual(r.bun);
    expect(JSON.parse(r.ours.body)).toEqual({
      name: "Response", ctorIsGlobal: true, instance: true, json: true, redirect: true, error: true, mine: true,
      nativeIsNotMine: true, mineOwnSymbols: 0, hasInstanceIsFunctionPrototypes: true, ownKeys: 0, nativeCode: true,
      responseName: "Response", protoIsGlobal: true,
    });
  });

  test("the same class after an await; fetch results are Responses", async () => {
    const r = await both("GET", "/class-after-await");
    expect(r.ours).toEqual(r.bun);
    expect(JSON.parse(r.ours.body)).toEqual({ same: true, sameProto: true, fetched: true });
  });

  test("an invalid header thrown by new Response reaches app.onError", async () => {
    const r = await both("GET", "/bad-header");
    expect(r.ours).toEqual(r.bun);
    expect(r.ours.body).toBe("onError: TypeError");
  });

  test("new Request(url, c.req.raw) on a request with a body", async () => {
    const r = await both("POST", "/clone-request", "", "payload");
    expect(r.ours).toEqual(r.bun);
    expect(r.ours.body).toBe("POST payload");
  });

  test("new Request(url, c.req.raw) after the body was read, and a request rebuilt from its headers", async () => {
    const read = await both("POST", "/clone-after-read", "", "payload");
    expect(read.ours).toEqual(read.bun);
    const rebuilt = await both("POST", "/clone-json-validator-style", "Content-Type: application/json\r\n", '{"a":1}');
    expect(rebuilt.ours).toEqual(rebuilt.bun);
  });

  test("new Request(url, c.req.raw) on a request whose body is still arriving (chunked)", async () => {
    const r = await both("POST", "/clone-request", "Transfer-Encoding: chunked\r\n", "7\r\npayload\r\n3\r\n+++\r\n0\r\n\r\n");
    expect(r.ours).toEqual(r.bun);
    expect(r.ours.body).toBe("POST payload+++");
  });
});
