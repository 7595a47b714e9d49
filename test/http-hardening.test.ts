// Regressions for the red-team findings on the engine (notes/redteam-http.md): each test fails
// on the engine as it was before the matching fix.
import { afterAll, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import net from "node:net";
import { ChunkedBody } from "../src/http/body.ts";
import { serve, type HttpServer, type ServerOptions } from "../src/http/index.ts";
import { get, RawClient } from "./http-support.ts";

const servers: HttpServer[] = [];
const clients: RawClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop({ graceful: false, timeoutMs: 1000 }).catch(() => {});
});

function start(fetch: (req: Request) => Response | Promise<Response>, options: ServerOptions = {}): HttpServer {
  const s = serve({ fetch }, { port: 0, hostname: "127.0.0.1", ...options });
  servers.push(s);
  return s;
}

async function connect(s: HttpServer): Promise<RawClient> {
  const c = await RawClient.connect(s.port);
  clients.push(c);
  return c;
}

const SPLIT = "0\r\nX-Injected: yes\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nspoofed";

describe("response splitting through an app-supplied Content-Length", () => {
  const s = start((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/304") return new Response(null, { status: 304, headers: { "content-length": SPLIT } });
    if (path === "/native-abc") return new Response(null, { status: 304, headers: new Headers({ "content-length": "abc" }) });
    if (path === "/ok") return new Response(null, { status: 304, headers: { "content-length": "12" } });
    return new Response(null, { headers: { "Content-Length": SPLIT } });
  });

  for (const [what, req, head] of [
    ["HEAD with a CRLF in Content-Length", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true],
    ["304 with a CRLF in Content-Length", get("/304"), false],
    ["304 with a non-numeric Content-Length in a Headers object", get("/native-abc"), false],
  ] as const) {
    test(`${what}: 500, nothing injected`, async () => {
      const c = await connect(s);
      c.write(req);
      const r = await c.response({ head });
      expect(r.status).toBe(500);
      expect(r.headers["x-injected"]).toBeUndefined();
      await Bun.sleep(50);
      expect(c.received.toString("latin1")).not.toContain("spoofed");
    });
  }

  test("a numeric Content-Length on a 304 is still sent", async () => {
    const c = await connect(s);
    c.write(get("/ok"));
    const r = await c.response();
    expect(r.status).toBe(304);
    expect(r.headers["content-length"]).toBe("12");
  });
});

describe("chunked request bodies do not retain the wire", () => {
  // 1-byte chunks padded with 4000-byte extensions: 4 MB of wire for 1000 body bytes.
  const wire = Buffer.from(`1;${"x".repeat(4000)}\r\na\r\n`.repeat(1000) + "0\r\n\r\n");

  test("collected: the body is a copy of the data, not views of the socket reads", () => {
    for (const w of [wire, Buffer.from(`1;${"x".repeat(4000)}\r\na\r\n0\r\n\r\n`)]) {
      // An allowance that lets 4 MB of extensions through: this is about what the decoder keeps.
      const d = new ChunkedBody(16 * 1024 * 1024, 16 * 1024, 8 * 1024 * 1024);
      expect(d.feed(w, 0, w.length)).toBe(w.length);
      expect(d.done).toBe(true);
      const body = d.body();
      expect(Buffer.from(body).toString()).toBe("a".repeat(w === wire ? 1000 : 1));
      expect(body.buffer).not.toBe(w.buffer);
      expect(body.buffer.byteLength).toBeLessThan(4 * 1000 + 4096);
    }
  });

  test("streamed: one copied chunk per read, not one view per chunk", () => {
    const d = new ChunkedBody(16 * 1024 * 1024, 16 * 1024, 8 * 1024 * 1024);
    const got: Uint8Array[] = [];
    d.sink = (c) => got.push(c);
    const half = wire.length >> 1;
    d.feed(wire, 0, half);
    d.feed(wire, half, wire.length);
    expect(got.length).toBe(2);
    for (const c of got) expect(c.buffer.byteLength).toBeLessThan(4096);
    expect(Buffer.concat(got).toString()).toBe("a".repeat(1000));
  });

  test("chunk extensions over 16 KiB on one line are refused with 413 (as Bun.serve and Node do)", () => {
    const d = new ChunkedBody(16 * 1024 * 1024, 16 * 1024, 1024 * 1024);
    const long = Buffer.from(`1;${"x".repeat(16 * 1024)}\r\na\r\n0\r\n\r\n`);
    expect(() => d.feed(long, 0, long.length)).toThrow("chunk extensions longer than 16384 bytes on one chunk");
  });
});

/** Sends `request` on a paused socket, reads nothing for pauseMs, then reads until EOF (or maxWaitMs). */
async function slowRead(port: number, request: string, pauseMs: number, maxWaitMs = 20_000) {
  const s = net.connect({ port, host: "127.0.0.1" });
  await new Promise((r) => s.once("connect", r));
  s.pause();
  let got = 0;
  let error = "";
  let ended = false;
  s.on("data", (d: Buffer) => (got += d.length));
  s.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  s.on("end", () => (ended = true));
  s.on("close", () => (ended = true));
  s.write(request);
  await Bun.sleep(pauseMs);
  s.resume();
  return {
    socket: s,
    async until(bytes: number) {
      const t0 = Date.now();
      while (got < bytes && !error && !ended && Date.now() - t0 < maxWaitMs) await Bun.sleep(20);
      return { got, error };
    },
    async end() {
      const t0 = Date.now();
      while (!error && !ended && Date.now() - t0 < maxWaitMs) await Bun.sleep(20);
      s.destroy();
      return { got, error, ended };
    },
  };
}

describe("slow readers get every byte (no reset, no idle close while output is queued)", () => {
  const SIZE = 16 * 1024 * 1024;
  const text = "x".repeat(SIZE);
  const bytes = new Uint8Array(SIZE).fill(120);

  test("a large string response read after a pause longer than keep-alive timeout + linger time", async () => {
    const s = start(() => new Response(text), { keepAliveTimeoutMs: 300 });
    const r = await slowRead(s.port, get("/"), 6000);
    const { got, error } = await r.until(SIZE + 60);
    r.socket.destroy();
    expect(error).toBe("");
    expect(got).toBeGreaterThan(SIZE);
  }, 30_000);

  test("Connection: close + large response read after a pause longer than the linger time: all of it, then FIN", async () => {
    const s = start(() => new Response(bytes));
    const r = await slowRead(s.port, get("/", "Connection: close\r\n"), 6000);
    const { got, error, ended } = await r.end();
    expect(error).toBe("");
    expect(ended).toBe(true);
    expect(got).toBeGreaterThan(SIZE);
  }, 30_000);

  test("a peer that never reads is given up on after the request timeout", async () => {
    const s = start(() => new Response(bytes), { requestTimeoutMs: 500 });
    const r = await slowRead(s.port, get("/", "Connection: close\r\n"), 3000);
    const { got, ended } = await r.end();
    expect(ended).toBe(true);
    expect(got).toBeLessThan(SIZE);
  }, 30_000);
});

describe("request.url is normalised like the URL parser: a /admin/* guard cannot be bypassed", () => {
  const app = new Hono();
  app.use("/admin/*", async (c) => c.text("denied", 401));
  app.get("/admin/secret", (c) => c.text("SECRET"));
  app.all("*", (c) => c.text(`${c.req.method} ${c.req.url}`));
  const s = start((req) => app.fetch(req));

  for (const target of ["/x/../admin/secret", "/x/%2e%2e/admin/secret", "/x/%2E%2E/admin/secret", "/x\\..\\admin/secret", "/x/./../admin/secret"]) {
    test(`GET ${target} is guarded (401)`, async () => {
      const c = await connect(s);
      c.write(get(target));
      const r = await c.response();
      expect(r.status).toBe(401);
      expect(r.body.toString()).toBe("denied");
    });
  }

  test("OPTIONS * never reaches the app (a 400, as on Bun.serve): it cannot pose as a request for /*", async () => {
    const c = await connect(s);
    c.write("OPTIONS * HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    const r = await c.response();
    expect(r.status).toBe(400);
    expect(r.body.toString()).not.toContain("OPTIONS http");
  });

  test("a query keeps its dots", async () => {
    const c = await connect(s);
    c.write(get("/y?next=/../x"));
    const r = await c.response();
    expect(r.body.toString()).toBe("GET http://t/y?next=/../x");
  });
});

describe("keep-alive idle timeout", () => {
  test("empty lines between requests do not keep a connection open past the headers timeout", async () => {
    const s = start(() => new Response("ok"), { keepAliveTimeoutMs: 300, headersTimeoutMs: 1000 });
    const c = await connect(s);
    c.write(get("/"));
    expect((await c.response()).status).toBe(200);
    const t0 = Date.now();
    // Without the fix every CRLF re-arms the idle clock and this loop runs to its bound.
    while (!c.ended && !c.closed && c.error === null && Date.now() - t0 < 8000) {
      c.socket.write("\r\n");
      await Bun.sleep(100);
    }
    expect(c.ended || c.closed || c.error !== null).toBe(true);
    expect(c.received.length).toBe(0); // closed quietly: no request was ever started
  }, 30_000);

  test("a request after empty lines is still answered", async () => {
    const s = start(() => new Response("ok"), { keepAliveTimeoutMs: 2000 });
    const c = await connect(s);
    c.write("\r\n\r\n");
    await Bun.sleep(50);
    c.write(get("/"));
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("ok");
  });
});

describe("request.signal and a client that closes (FIN) while the handler is pending", () => {
  const seen = { aborted: false };
  const s = start(async (req) => {
    seen.aborted = false;
    req.signal.addEventListener("abort", () => (seen.aborted = true));
    await Bun.sleep(400);
    return new Response(`late, aborted=${req.signal.aborted}`);
  });

  test("a half-close after a complete request aborts the signal, and the response still arrives, then FIN", async () => {
    const c = await connect(s);
    c.write(get("/"));
    await Bun.sleep(100);
    c.socket.shutdown(); // FIN, still reading
    const r = await c.response();
    expect(seen.aborted).toBe(true);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("late, aborted=true");
    await c.closedByPeer();
  });

  test("a full close aborts the signal within the handler's lifetime", async () => {
    const c = await connect(s);
    c.write(get("/"));
    await Bun.sleep(100);
    c.close();
    const t0 = Date.now();
    while (!seen.aborted && Date.now() - t0 < 5000) await Bun.sleep(20);
    expect(seen.aborted).toBe(true);
  });
});
