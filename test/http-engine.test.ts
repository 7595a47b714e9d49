// End-to-end over real loopback sockets: the engine serving a Hono app, byte-exact requests.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { createServer, serve, type HttpServer, type ServerOptions } from "../src/http/index.ts";
import { MAX_UNREAD_BODY_DRAIN_BYTES } from "../src/http/limits.ts";
import { get, RawClient } from "./http-support.ts";

const MiB = 1024 * 1024;
const aborted: string[] = [];
/** Set by /count-stream when the first body bytes reach the handler. */
const streamProgress = { firstChunk: false };

function makeApp() {
  const app = new Hono();
  app.get("/", (c) => c.text("Hello World"));
  app.get("/json", (c) => c.json({ message: "Hello, World!" }));
  app.get("/user/:id", (c) => c.text(`user ${c.req.param("id")}`));
  app.post("/echo", async (c) => c.body(await c.req.arrayBuffer()));
  app.post("/length", async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
  app.get("/headers", (c) => c.json({ ua: c.req.header("user-agent") ?? null, x: c.req.header("x-test") ?? null }));
  app.get("/big", () => new Response(new Uint8Array(MiB).fill(97)));
  app.get("/slow", async (c) => {
    await Bun.sleep(Number(c.req.query("ms") ?? 100));
    return c.text("slow done");
  });
  app.get("/stream", () => {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(ctl) {
          await Bun.sleep(5);
          if (i === 3) ctl.close();
          else ctl.enqueue(new TextEncoder().encode(`part${i++}\n`));
        },
      }),
    );
  });
  app.get("/stream-big", () => {
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(98);
    return new Response(
      new ReadableStream({
        pull(ctl) {
          if (sent >= 8 * MiB) return ctl.close();
          ctl.enqueue(chunk);
          sent += chunk.byteLength;
        },
      }),
    );
  });
  app.get("/throw", () => {
    throw new Error("handler exploded (expected by the test)");
  });
  app.get("/reject", async () => {
    await Bun.sleep(1);
    throw new Error("async handler exploded (expected by the test)");
  });
  app.get("/native", () => new Response("native body", { status: 201, headers: new Headers({ "x-kind": "native" }) }));
  app.get("/instanceof", (c) => {
    const r = new Response("x");
    return c.json({ response: r instanceof Response, request: c.req.raw instanceof Request });
  });
  app.get("/async-text", async () => {
    await Bun.sleep(1);
    return new Response("typed later");
  });
  app.get("/pattern/:seed", (c) => {
    // 60 KiB whose bytes depend on the seed: any mix-up between responses shows.
    const seed = Number(c.req.param("seed"));
    const body = new Uint8Array(60 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + seed) & 0xff;
    return new Response(body);
  });
  app.get("/wait-abort", async (c) => {
    const signal = c.req.raw.signal;
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    aborted.push(c.req.path);
    return c.text("never sent");
  });
  app.get("/split", () => new Response("x", { statusText: "OK\r\nx-injected: 1" }));
  app.get("/split-header", () => new Response("x", { headers: { "x-a": "1\r\nx-injected: 1" } }));
  app.post("/count-stream", async (c) => {
    const reader = c.req.raw.body!.getReader();
    let total = 0;
    let sum = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total === 0) streamProgress.firstChunk = true;
      total += value.byteLength;
      for (const b of value) sum = (sum + b) % 65521;
      if (c.req.query("slow")) await Bun.sleep(1);
    }
    return c.json({ total, sum });
  });
  app.post("/ignore-body", (c) => c.text("not reading that"));
  app.get("/nobody", () => new Response(null, { status: 204 }));
  app.get("/close", () => new Response("bye", { headers: { connection: "close" } }));
  app.get("/teapot", (c) => c.text("short and stout", 418));
  app.get("/cookie", (c) => {
    c.header("set-cookie", "a=1");
    c.header("set-cookie", "b=2", { append: true });
    return c.text("cookies");
  });
  return app;
}

const servers: HttpServer[] = [];
const clients: RawClient[] = [];
function start(options: ServerOptions = {}): HttpServer {
  const s = serve(makeApp(), { port: 0, hostname: "127.0.0.1", ...options });
  servers.push(s);
  return s;
}
async function connect(s: HttpServer): Promise<RawClient> {
  const c = await RawClient.connect(s.port);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) if (!c.closed) c.socket.terminate();
});
afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop({ graceful: false });
});

describe("serving", () => {
  test("keep-alive: several requests on one connection", async () => {
    const s = start();
    const c = await connect(s);
    for (const [path, body] of [["/", "Hello World"], ["/user/7", "user 7"], ["/json", '{"message":"Hello, World!"}']]) {
      c.write(get(path!));
      const r = await c.response();
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(body!);
      expect(r.headers["date"]).toMatch(/GMT$/);
    }
    expect(c.ended).toBe(false);
  });

  test("pipelining: responses in request order", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/slow?ms=50") + get("/user/1") + get("/user/2") + `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc` + get("/"));
    const bodies = [];
    for (let i = 0; i < 5; i++) bodies.push((await c.response()).body.toString());
    expect(bodies).toEqual(["slow done", "user 1", "user 2", "abc", "Hello World"]);
  });

  test("one-byte writes", async () => {
    const s = start();
    const c = await connect(s);
    await c.writeSlowly(`POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n`);
    const r = await c.response();
    expect(r.body.toString()).toBe("abcde");
  });

  test("1 MiB request body with Content-Length, echoed back", async () => {
    const s = start();
    const c = await connect(s);
    const body = Buffer.alloc(MiB, 120);
    c.write(`POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ${MiB}\r\n\r\n`);
    c.write(body);
    const r = await c.response();
    expect(r.body.length).toBe(MiB);
    expect(r.body.equals(body)).toBe(true);
  });

  test("1 MiB chunked request body", async () => {
    const s = start();
    const c = await connect(s);
    let wire = `POST /length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < 16; i++) wire += `10000\r\n${"z".repeat(0x10000)}\r\n`;
    c.write(wire + "0\r\n\r\n");
    expect((await c.response()).body.toString()).toBe(String(MiB));
  });

  test("a large body still arriving is streamed to the handler (it runs before the upload ends)", async () => {
    streamProgress.firstChunk = false;
    const s = start();
    const c = await connect(s);
    const half = Buffer.alloc(512 * 1024, 1);
    c.write(`POST /count-stream HTTP/1.1\r\nHost: t\r\nContent-Length: ${2 * half.length}\r\n\r\n`);
    c.write(half);
    for (let i = 0; i < 500 && !streamProgress.firstChunk; i++) await Bun.sleep(20);
    expect(streamProgress.firstChunk).toBe(true); // the handler has bytes before the rest was sent
    c.write(half);
    expect(JSON.parse((await c.response()).body.toString())).toEqual({ total: 2 * half.length, sum: (2 * half.length) % 65521 });
    c.write(get("/"));
    expect((await c.response()).body.toString()).toBe("Hello World"); // same connection, in sync
  });

  test("8 MiB chunked upload to a slow reader: backpressure, every byte arrives", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /count-stream?slow=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
    let sum = 0;
    for (const b of chunk) sum = (sum + b) % 65521;
    for (let i = 0; i < 32; i++) {
      c.write(`${chunk.length.toString(16)}\r\n`);
      c.write(chunk);
      c.write("\r\n");
      await c.flushed();
    }
    c.write("0\r\n\r\n");
    const r = await c.response({ timeoutMs: 60_000 });
    expect(JSON.parse(r.body.toString())).toEqual({ total: 32 * chunk.length, sum: (sum * 32) % 65521 });
  });

  test("answering without reading a body with more than MAX_UNREAD_BODY_DRAIN_BYTES still to come: Connection: close, then closed", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: ${MAX_UNREAD_BODY_DRAIN_BYTES + MiB}\r\n\r\n`);
    c.write(Buffer.alloc(256 * 1024));
    const r = await c.response();
    expect(r.body.toString()).toBe("not reading that");
    expect(r.headers["connection"]).toBe("close");
    await c.closedByPeer();
  });

  test("answering without reading a smaller body: the rest is dropped and the next request answered (as on Bun.serve)", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: ${MiB}\r\n\r\n`);
    c.write(Buffer.alloc(256 * 1024, 0x47)); // "G": would parse as a method if not dropped
    const r = await c.response();
    expect(r.body.toString()).toBe("not reading that");
    expect(r.headers["connection"]).toBeUndefined();
    c.write(Buffer.alloc(MiB - 256 * 1024, 0x47));
    c.write(get("/"));
    const next = await c.response();
    expect(next.status).toBe(200);
    expect(next.body.toString()).toBe("Hello World");
  });

  test("answering without reading a chunked body: the rest is dropped up to MAX_UNREAD_BODY_DRAIN_BYTES, then closed", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /ignore-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`);
    const r = await c.response();
    expect(r.headers["connection"]).toBeUndefined();
    // A small rest, then the next request: answered.
    c.write(`4\r\nefgh\r\n0\r\n\r\n${get("/")}`);
    expect((await c.response()).body.toString()).toBe("Hello World");
    // A rest that never ends: dropped up to the bound, then the connection closes.
    c.write(`POST /ignore-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`);
    await c.response();
    const piece = `10000\r\n${"x".repeat(0x10000)}\r\n`;
    for (let sent = 0; sent <= MAX_UNREAD_BODY_DRAIN_BYTES && !c.closed && !c.ended; sent += 0x10000) c.write(piece);
    await c.closedByPeer();
  });

  test("a bad chunk in a body being streamed → 400 and close", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /count-stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`);
    await Bun.sleep(100);
    c.write("zz\r\n");
    expect((await c.response()).status).toBe(400);
    await c.closedByPeer();
  });

  test("1 MiB response body", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/big"));
    const r = await c.response();
    expect(r.headers["content-length"]).toBe(String(MiB));
    expect(r.body.length).toBe(MiB);
    c.write(get("/"));
    expect((await c.response()).body.toString()).toBe("Hello World");
  });

  test("responses the kernel only takes in part (client not reading) arrive intact and in order", async () => {
    const s = start();
    const cs = await Promise.all([connect(s), connect(s)]);
    const n = 150; // 9 MiB per connection: more than loopback socket buffers hold
    for (const [k, c] of cs.entries()) {
      let wire = "";
      for (let i = 0; i < n; i++) wire += get(`/pattern/${k * 100 + i}`);
      c.write(wire);
    }
    await Bun.sleep(300); // let both connections back up while sharing the engine
    for (const [k, c] of cs.entries()) {
      for (let i = 0; i < n; i++) {
        const r = await c.response({ timeoutMs: 30_000 });
        const seed = k * 100 + i;
        expect(r.body.length).toBe(60 * 1024);
        let ok = true;
        for (let j = 0; j < r.body.length; j++) if (r.body[j] !== ((j * 7 + seed) & 0xff)) ok = false;
        expect(ok).toBe(true);
      }
    }
  });

  test("streaming body: chunked, in order, connection reusable", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/stream"));
    const r = await c.response();
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(r.body.toString()).toBe("part0\npart1\npart2\n");
    c.write(get("/"));
    expect((await c.response()).status).toBe(200);
  });

  test("streaming 8 MiB with backpressure arrives intact", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/stream-big"));
    const r = await c.response({ timeoutMs: 30_000 });
    expect(r.body.length).toBe(8 * MiB);
    expect(r.body.every((b) => b === 98)).toBe(true);
  });

  test("HEAD: headers without a body", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`HEAD / HTTP/1.1\r\nHost: t\r\n\r\n`);
    const r = await c.response({ head: true });
    expect(r.status).toBe(200);
    c.write(get("/user/3"));
    const r2 = await c.response();
    expect(r2.body.toString()).toBe("user 3"); // proves no body bytes followed the HEAD response
  });

  test("HEAD on a plain fetch handler keeps the Content-Length of the body", async () => {
    const s = serve({ fetch: () => new Response("twelve bytes") }, { port: 0, hostname: "127.0.0.1" });
    servers.push(s);
    const c = await connect(s);
    c.write(`HEAD / HTTP/1.1\r\nHost: t\r\n\r\n` + get("/"));
    const r = await c.response({ head: true });
    expect(r.headers["content-length"]).toBe("12");
    expect((await c.response()).body.toString()).toBe("twelve bytes");
  });

  test("Expect: 100-continue gets 100 before the body is sent", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    const interim = await c.response();
    expect(interim.status).toBe(100);
    c.write("hello");
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello");
  });

  test("a handler that throws gives 500 and the server lives, same connection", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/throw"));
    expect((await c.response()).status).toBe(500);
    c.write(get("/reject"));
    expect((await c.response()).status).toBe(500);
    c.write(get("/"));
    expect((await c.response()).body.toString()).toBe("Hello World");
  });

  test("Request and Response are the real thing to app code", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/instanceof") + get("/headers", "User-Agent: raw\r\nX-Test: 1\r\n"));
    expect(JSON.parse((await c.response()).body.toString())).toEqual({ response: true, request: true });
    expect(JSON.parse((await c.response()).body.toString())).toEqual({ ua: "raw", x: "1" });
    expect(new Response("outside") instanceof Response).toBe(true);
    expect(globalThis.Response.name).toBe("Response");
  });

  test("native Response with Headers, status, null-body status, 404, set-cookie twice", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/native") + get("/nobody") + get("/missing") + get("/teapot") + get("/cookie"));
    const native = await c.response();
    expect([native.status, native.headers["x-kind"], native.body.toString()]).toEqual([201, "native", "native body"]);
    const nobody = await c.response();
    expect(nobody.status).toBe(204);
    expect((await c.response()).status).toBe(404);
    const teapot = await c.response();
    expect([teapot.status, teapot.body.toString()]).toEqual([418, "short and stout"]);
    await c.until(() => c.received.toString().includes("cookies"));
    expect(c.received.toString().match(/set-cookie: /gi)?.length).toBe(2);
  });

  test("a string body built after an await is typed text/plain like Bun.serve does", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/async-text") + get("/"));
    const a = await c.response();
    expect([a.body.toString(), a.headers["content-type"]]).toEqual(["typed later", "text/plain;charset=utf-8"]);
    expect((await c.response()).headers["content-type"]).toBe("text/plain;charset=utf-8");
  });

  test("request.signal aborts when the client goes away mid-request", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/wait-abort"));
    await Bun.sleep(100);
    c.socket.terminate();
    for (let i = 0; i < 100 && !aborted.includes("/wait-abort"); i++) await Bun.sleep(20);
    expect(aborted).toContain("/wait-abort");
  });

  test("a response that would split is never sent: statusText is ignored (as on Bun.serve), a CR/LF header value is a 500", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/split") + get("/split-header") + get("/"));
    const first = await c.response();
    expect(first.status).toBe(200);
    expect((await c.response()).status).toBe(500);
    expect((await c.response()).status).toBe(200);
    expect(c.received.toString()).not.toContain("x-injected");
  });

  test("HTTP/1.0 without keep-alive closes after the response", async () => {
    const s = start();
    const c = await connect(s);
    c.write("GET / HTTP/1.0\r\n\r\n");
    const r = await c.response();
    expect(r.body.toString()).toBe("Hello World");
    expect(r.headers["connection"]).toBe("close");
    await c.closedByPeer();
  });

  test("HTTP/1.0 with keep-alive stays open", async () => {
    const s = start();
    const c = await connect(s);
    c.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect((await c.response()).headers["connection"]).toBe("keep-alive");
    c.write("GET /user/9 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect((await c.response()).body.toString()).toBe("user 9");
  });

  test("Connection: close from the client, and from the app", async () => {
    const s = start();
    const a = await connect(s);
    a.write(get("/", "Connection: close\r\n"));
    expect((await a.response()).headers["connection"]).toBe("close");
    await a.closedByPeer();
    const b = await connect(s);
    b.write(get("/close"));
    expect((await b.response()).body.toString()).toBe("bye");
    await b.closedByPeer();
  });

  test("absolute-form target routes on its path", async () => {
    const s = start();
    const c = await connect(s);
    c.write(`GET http://example.com/user/5 HTTP/1.1\r\nHost: example.com\r\n\r\n`);
    expect((await c.response()).body.toString()).toBe("user 5");
  });

  test("idle keep-alive connections are closed after keepAliveTimeoutMs", async () => {
    const s = start({ keepAliveTimeoutMs: 200 });
    const c = await connect(s);
    c.write(get("/"));
    await c.response();
    await c.closedByPeer(10_000);
    expect(c.received.length).toBe(0); // closed silently, no 408 on an idle connection
  });

  test("server counts and graceful stop", async () => {
    const s = start();
    const c = await connect(s);
    c.write(get("/"));
    await c.response();
    expect(s.counts).toMatchObject({ open: 1, idle: 1, busy: 0 });
    c.write(get("/slow?ms=300"));
    await Bun.sleep(50);
    expect(s.counts).toMatchObject({ open: 1, busy: 1 });
    const stopping = s.stop();
    const r = await c.response();
    expect(r.body.toString()).toBe("slow done");
    expect(r.headers["connection"]).toBe("close");
    await stopping;
    await c.closedByPeer();
    expect(s.counts.open).toBe(0);
  });
});

describe("rejections: status, then close", () => {
  const cases: [string, string, number, ServerOptions?][] = [
    ["obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400],
    ["whitespace before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400],
    ["NUL in value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 400],
    ["CR in value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400],
    ["LF in value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\nb\r\n\r\n", 400],
    ["bad method", "G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400],
    ["bad target", "GET a b HTTP/1.1\r\nHost: t\r\n\r\n", 400],
    ["missing Host", "GET / HTTP/1.1\r\n\r\n", 400],
    ["CL + TE", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ["conflicting CL", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400],
    ["duplicate CL", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400],
    ["TE not chunked-last", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
    ["TE unknown coding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["overflowing chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", 400],
    ["header section too large", `GET / HTTP/1.1\r\nHost: t\r\nX: ${"a".repeat(2000)}\r\n\r\n`, 431, { maxHeaderBytes: 1024 }],
    ["body too large (CL)", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n", 413, { maxBodyBytes: 1000 }],
    ["body too large (chunked)", `POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${"a".repeat(1024)}\r\n`, 413, { maxBodyBytes: 1000 }],
    ["target too long", `GET /${"a".repeat(3000)} HTTP/1.1\r\nHost: t\r\n\r\n`, 414, { maxUrlLength: 2048 }],
    ["unknown version", "GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505],
  ];
  for (const [name, wire, status, options] of cases) {
    test(`${name} → ${status}`, async () => {
      const s = start(options);
      const c = await connect(s);
      c.write(get("/") + wire); // a good request first: the rejection must not disturb it
      expect((await c.response()).status).toBe(200);
      const r = await c.response();
      expect(r.status).toBe(status);
      expect(r.headers["connection"]).toBe("close");
      await c.closedByPeer();
    });
  }

  test("slowloris: header section not complete in headersTimeoutMs → 408", async () => {
    const s = start({ headersTimeoutMs: 300 });
    const c = await connect(s);
    c.write("GET / HTTP/1.1\r\nHost: t\r\n");
    // Drip a header line every 100 ms for up to 10 s: the drip must not keep the request alive.
    let drips = 0;
    while (drips < 100 && !c.ended && !c.closed && c.received.length === 0) {
      c.write("X-Drip: 1\r\n");
      drips++;
      await Bun.sleep(100);
    }
    expect(drips).toBeLessThan(100);
    const r = await c.response();
    expect(r.status).toBe(408);
    await c.closedByPeer();
  });

  test("a request timeout of an earlier request does not shorten the next one's clock", async () => {
    const s = start({ requestTimeoutMs: 300, headersTimeoutMs: 3000 });
    const c = await connect(s);
    c.write("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    expect((await c.response()).body.toString()).toBe("ok");
    await Bun.sleep(600); // longer than requestTimeoutMs, idle in between
    c.write("GET / HTTP/1.1\r\nHo");
    await Bun.sleep(100);
    c.write("st: t\r\n\r\n");
    expect((await c.response()).status).toBe(200);
  });

  test("a streamed body that stalls → 408 after requestTimeoutMs, the handler's read fails", async () => {
    const s = start({ requestTimeoutMs: 400 });
    const c = await connect(s);
    c.write("POST /count-stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n");
    expect((await c.response()).status).toBe(408);
    await c.closedByPeer();
  });

  test("a body that never arrives → 408 after requestTimeoutMs", async () => {
    const s = start({ requestTimeoutMs: 300 });
    const c = await connect(s);
    c.write("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    expect((await c.response()).status).toBe(408);
    await c.closedByPeer();
  });

  test("invalid options name the option", () => {
    expect(() => createServer(makeApp(), { maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
    expect(() => createServer(makeApp(), { maxBodyByte: 1 } as any)).toThrow(/unknown option "maxBodyByte"/);
    expect(() => serve(makeApp(), { port: 70000 })).toThrow(/port/);
  });

  test('"::" listens on IPv6 and IPv4 (dual stack)', async () => {
    const s = serve({ fetch: (r: Request) => new Response(new URL(r.url).host) }, { port: 0, hostname: "::" });
    servers.push(s);
    for (const host of ["::1", "127.0.0.1"]) {
      const c = await RawClient.connect(s.port, host);
      clients.push(c);
      c.write(get("/", "", host.includes(":") ? `[${host}]` : host));
      expect((await c.response()).status).toBe(200);
    }
  });

  test("listen/adopt on an fd that is not a listening or open socket is a clear error", () => {
    const s = createServer(makeApp());
    expect(() => s.listen(987654)).toThrow(/not open in this process/);
    expect(() => s.adopt(987654)).toThrow(/not open in this process/);
    expect(() => s.listen(0)).toThrow(/not a listening socket/); // stdin
  });

  test("a port in use is a clear error", () => {
    const s = start();
    expect(() => serve(makeApp(), { port: s.port, hostname: "127.0.0.1" })).toThrow(/in use by another process \(EADDRINUSE\)/);
  });
});
