// WebSockets on liveframe's engine (serve()), side by side with Bun.serve in the same test: the
// upgrade edge cases (426 before the app, bad upgrades falling through to the app), the raw
// server.upgrade API with a subprotocol and headers chosen by the app, HTTP routes and WebSockets
// on one port, a keep-alive connection that serves HTTP and then upgrades, frames sent in the
// same write as the upgrade request, pings, and backpressure (send() = -1, then drain).
// Real sockets on 127.0.0.1; every transcript must match Bun's and what the test states.
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Hono } from "hono";
import { upgradeWebSocket as bunUpgradeWebSocket, websocket as bunWebsocket } from "hono/bun";
import { serve, upgradeWebSocket } from "../src/index.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { RealWebSocket } from "../src/ws/testing/real-ws.ts";
import { frame, readServerFrames } from "../src/ws/testing/frames.ts";
import { OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT, OP_PING } from "../src/ws/protocol.ts";

const cleanups = cleanupAfterEach();
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

type Kind = "bun" | "liveframe";

/** A Hono app with HTTP routes and a WebSocket route, on hono/bun's or liveframe's upgradeWebSocket. */
function honoApp(upgrade: typeof upgradeWebSocket, log: string[]) {
  const app = new Hono();
  app.get("/", (c) => c.text("home"));
  app.post("/echo", async (c) => c.text(`posted:${await c.req.text()}`));
  app.get(
    "/ws",
    upgrade(() => ({
      onOpen: (_e, ws) => void log.push(`open ${ws.protocol}`),
      onMessage: (e, ws) => {
        log.push(`msg ${typeof e.data === "string" ? e.data : `binary ${(e.data as ArrayBuffer).byteLength}`}`);
        ws.send(typeof e.data === "string" ? `echo:${e.data}` : new Uint8Array(e.data as ArrayBuffer));
      },
      onClose: (e) => void log.push(`close ${e.code}`),
    })),
  );
  app.get("/ws", (c) => c.text("not a websocket", 400));
  return app;
}

function start(kind: Kind, log: string[] = []): { port: number; log: string[] } {
  if (kind === "bun") {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: honoApp(bunUpgradeWebSocket as typeof upgradeWebSocket, log).fetch, websocket: bunWebsocket });
    cleanups.push(() => server.stop(true));
    return { port: server.port!, log };
  }
  const server = serve(honoApp(upgradeWebSocket, log), { port: 0, hostname: "127.0.0.1" });
  cleanups.push(() => server.stop({ graceful: false }));
  return { port: server.port, log };
}

/** A raw TCP client: write bytes, wait until what arrived satisfies a test. */
class Raw {
  received = Buffer.alloc(0);
  readonly closed = Promise.withResolvers<void>();
  private waiters: (() => void)[] = [];
  private constructor(private socket: Socket<undefined>) {}

  static async connect(port: number): Promise<Raw> {
    let raw!: Raw;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, d) {
          raw.received = Buffer.concat([raw.received, d]);
          for (const w of raw.waiters.splice(0)) w();
        },
        close() {
          raw.closed.resolve();
          for (const w of raw.waiters.splice(0)) w();
        },
        error() {},
      },
    });
    raw = new Raw(socket);
    cleanups.push(() => socket.end());
    return raw;
  }

  write(b: string | Uint8Array): void {
    this.socket.write(b);
  }

  /** Waits until `pred(received)` holds; fails (rather than hangs) if the socket closes first. */
  async until(pred: (b: Buffer) => boolean, what: string): Promise<void> {
    let isClosed = false;
    void this.closed.promise.then(() => (isClosed = true));
    while (!pred(this.received)) {
      if (isClosed) throw new Error(`connection closed before ${what}; got ${JSON.stringify(this.received.toString("latin1").slice(0, 300))}`);
      await new Promise<void>((r) => this.waiters.push(r));
      await Promise.resolve();
    }
  }
}

const upgradeHead = (path = "/ws", extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
const headEnd = (b: Buffer) => b.indexOf("\r\n\r\n");
/** Status line and header names (lower case, sorted; Date dropped) of the first response. */
function headShape(b: Buffer): string[] {
  const [status, ...lines] = b.subarray(0, headEnd(b)).toString("latin1").split("\r\n");
  return [status!, ...lines.map((l) => l.slice(0, l.indexOf(":")).toLowerCase()).filter((n) => n !== "date").sort()];
}

describe("upgrade requests the engine answers, or hands to the app, as Bun.serve", () => {
  test("Sec-WebSocket-Version 8 → 426 with Sec-WebSocket-Version: 13, the app does not run, connection closed", async () => {
    const out: Record<Kind, unknown> = { bun: null, liveframe: null };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      const s = start(kind);
      const c = await Raw.connect(s.port);
      c.write(upgradeHead().replace("Version: 13", "Version: 8"));
      await c.closed.promise;
      const text = c.received.toString("latin1");
      out[kind] = { status: text.split("\r\n")[0], version: /sec-websocket-version: *13/i.test(text), log: s.log };
    }
    expect(out.liveframe).toEqual(out.bun);
    expect(out.liveframe).toEqual({ status: "HTTP/1.1 426 Upgrade Required", version: true, log: [] });
  });

  // [name, request, Bun's status line when it differs (a documented difference: RFC 6455 over Bun)]
  const badUpgrades: [string, string, string?][] = [
    ["no Sec-WebSocket-Key", upgradeHead().replace(`Sec-WebSocket-Key: ${KEY}\r\n`, "")],
    ["a key that is not 16 bytes of base64", upgradeHead().replace(KEY, "c2hvcnQ=")],
    ["POST", upgradeHead().replace("GET", "POST")],
    ["HTTP/1.0", upgradeHead().replace("HTTP/1.1", "HTTP/1.0"), "HTTP/1.1 101 Switching Protocols"],
    ["no Connection: Upgrade", upgradeHead().replace("Connection: Upgrade", "Connection: keep-alive"), "HTTP/1.1 101 Switching Protocols"],
  ];
  for (const [name, request, bunDiffers] of badUpgrades) {
    const as = bunDiffers ? "(Bun upgrades it: a documented difference, RFC 6455 §4.2.1 requires it)" : "as under Bun";
    test(`${name}: not upgraded; the app answers (hono's next route), ${as}`, async () => {
      const out: Record<Kind, string> = { bun: "", liveframe: "" };
      for (const kind of ["bun", "liveframe"] as Kind[]) {
        const s = start(kind);
        const c = await Raw.connect(s.port);
        c.write(request);
        await c.until((b) => headEnd(b) >= 0, "a response head");
        out[kind] = c.received.toString("latin1").split("\r\n")[0]!;
      }
      expect(out.liveframe).toMatch(/^HTTP\/1\.1 (400|404)/);
      expect(out.bun).toBe(bunDiffers ?? out.liveframe);
    });
  }
});

describe("HTTP and WebSockets on one port", () => {
  test("a keep-alive connection serves two HTTP requests, then upgrades; frames sent with the upgrade request are read", async () => {
    const out: Record<Kind, string[]> = { bun: [], liveframe: [] };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      const s = start(kind);
      const c = await Raw.connect(s.port);
      const lines = out[kind];
      c.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      await c.until((b) => b.includes("home"), "the first response");
      c.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc");
      await c.until((b) => b.includes("posted:abc"), "the second response");
      lines.push(...(c.received.toString("latin1").match(/HTTP\/1\.1 \d+ [A-Za-z ]+|home|posted:abc/g) ?? []));
      c.received = Buffer.alloc(0);
      // The upgrade request and a first message in one write: the message is past the head.
      c.write(Buffer.concat([Buffer.from(upgradeHead()), frame({ op: OP_TEXT, payload: "early" })]));
      await c.until((b) => headEnd(b) >= 0 && readable(b.subarray(headEnd(b) + 4), 1), "101 and the echo");
      lines.push(...headShape(c.received));
      lines.push(c.received.toString("latin1").includes(`Sec-WebSocket-Accept: ${ACCEPT}`) || c.received.toString("latin1").toLowerCase().includes(`sec-websocket-accept: ${ACCEPT.toLowerCase()}`) ? "accept ok" : "accept WRONG");
      c.write(frame({ op: OP_BINARY, payload: new Uint8Array(300).fill(7) }));
      await c.until((b) => readable(b.subarray(headEnd(b) + 4), 2), "the binary echo");
      c.write(frame({ op: OP_CLOSE, payload: new Uint8Array([0x03, 0xe8]) }));
      await c.closed.promise;
      for (const f of readServerFrames(c.received.subarray(headEnd(c.received) + 4))) lines.push(`frame ${f.op} ${f.op === OP_TEXT ? f.payload.toString() : f.payload.length}`);
      lines.push(...s.log);
    }
    expect(out.liveframe).toEqual(out.bun);
    expect(out.liveframe).toEqual([
      "HTTP/1.1 200 OK",
      "home",
      "HTTP/1.1 200 OK",
      "posted:abc",
      "HTTP/1.1 101 Switching Protocols",
      "connection",
      "sec-websocket-accept",
      "upgrade",
      "accept ok",
      `frame ${OP_TEXT} echo:early`,
      `frame ${OP_BINARY} 300`,
      `frame ${OP_CLOSE} 2`,
      "open ",
      "msg early",
      "msg binary 300",
      "close 1000",
    ]);
  });

  test("Bun's WebSocket client and fetch share the port: 20 sockets and 20 requests at once", async () => {
    const out: Record<Kind, string[]> = { bun: [], liveframe: [] };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      const s = start(kind);
      const replies = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => fetch(`http://127.0.0.1:${s.port}/`).then(async (r) => `http ${r.status} ${await r.text()}`)),
        ...Array.from({ length: 20 }, (_, i) => {
          const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
          const got = Promise.withResolvers<string>();
          ws.onopen = () => ws.send(`m${i}`);
          ws.onmessage = (e) => {
            got.resolve(`ws ${e.data}`);
            ws.close();
          };
          ws.onclose = (e) => got.resolve(`ws closed ${e.code} before a reply`);
          return got.promise;
        }),
      ]);
      out[kind] = replies.sort();
    }
    expect(out.liveframe).toEqual(out.bun);
    expect(out.liveframe.filter((l) => l === "http 200 home")).toHaveLength(20);
    expect(out.liveframe.filter((l) => /^ws echo:m\d+$/.test(l))).toHaveLength(20);
  });
});

/** Whether `b` holds at least `n` complete server frames. */
function readable(b: Buffer, n: number): boolean {
  try {
    return readServerFrames(b).length >= n;
  } catch {
    return false;
  }
}

describe("Bun's server.upgrade API (no Hono): data, a subprotocol and headers chosen by the app", () => {
  function rawApp(log: string[], appClosed: () => void) {
    return {
      fetch(req: Request, server: { upgrade(r: Request, o: object): boolean }) {
        const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
        const ok = server.upgrade(req, { data: { user: "ann" }, headers: { "Sec-WebSocket-Protocol": offered.at(-1)!, "X-Room": "7" } });
        return ok ? undefined : new Response("no upgrade", { status: 400 });
      },
      websocket: {
        open(ws: { data: { user: string }; send(s: string): number }) {
          log.push(`open ${ws.data.user}`);
        },
        message(ws: { send(s: string | Uint8Array): number }, m: string | Buffer) {
          log.push(`message ${typeof m === "string" ? m : `buffer ${m.length}`}`);
          ws.send(m);
        },
        close(_ws: unknown, code: number, reason: string) {
          log.push(`close ${code} ${reason}`);
          appClosed();
        },
      },
    };
  }
  test("the ws client: protocol chosen by the app, X-Room header, ping answered, close 4000 echoed", async () => {
    const out: Record<Kind, string[]> = { bun: [], liveframe: [] };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      const log: string[] = [];
      const appClosed = Promise.withResolvers<void>();
      const app = rawApp(log, appClosed.resolve);
      let port: number;
      if (kind === "bun") {
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch as never, websocket: app.websocket as never });
        cleanups.push(() => server.stop(true));
        port = server.port!;
      } else {
        const server = serve(app as never, { port: 0, hostname: "127.0.0.1" }); // the app's own `websocket` is picked up
        cleanups.push(() => server.stop({ graceful: false }));
        port = server.port;
      }
      const lines = out[kind];
      const ws = new RealWebSocket(`ws://127.0.0.1:${port}/`, ["a", "b", "c"]);
      const done = Promise.withResolvers<void>();
      ws.on("upgrade", (res: { headers: Record<string, string> }) => lines.push(`x-room ${res.headers["x-room"]}`));
      ws.on("open", () => {
        lines.push(`open ${ws.protocol}`);
        ws.ping("are you there");
        ws.send(Buffer.from([1, 2, 3, 4]));
      });
      ws.on("pong", (d: Buffer) => lines.push(`pong ${d.toString()}`));
      ws.on("message", (d: Buffer, binary: boolean) => {
        lines.push(`echo ${binary ? "binary" : "text"} ${d.length}`);
        ws.close(4000, "bye");
      });
      ws.on("close", (code: number, reason: Buffer) => {
        lines.push(`closed ${code} ${reason}`);
        done.resolve();
      });
      ws.on("error", (e: Error) => lines.push(`error ${e.message}`));
      await done.promise;
      await appClosed.promise;
      lines.push(...log);
    }
    expect(out.liveframe).toEqual(out.bun);
    expect(out.liveframe).toEqual(["x-room 7", "open c", "pong are you there", "echo binary 4", "closed 4000 bye", "open ann", "message buffer 4", "close 4000 bye"]);
  });
});

describe("backpressure", () => {
  test("a client that does not read: send() returns -1, drain fires once the client reads, every byte arrives in order", async () => {
    const out: Record<Kind, unknown> = { bun: null, liveframe: null };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      const events: string[] = [];
      const drained = Promise.withResolvers<void>();
      const chunk = new Uint8Array(256 * 1024);
      let sent = 0;
      const handlers = {
        open(ws: { send(b: Uint8Array): number }) {
          // Fill until the kernel and the session queue push back.
          for (let i = 0; i < 64; i++) {
            chunk.fill(i);
            const r = ws.send(chunk);
            sent++;
            if (r === -1) {
              events.push("send -1");
              return;
            }
          }
          events.push("never pushed back");
        },
        message() {},
        close() {},
        drain() {
          events.push("drain");
          drained.resolve();
        },
      };
      const app = { fetch: (req: Request, server: { upgrade(r: Request): boolean }) => (server.upgrade(req) ? undefined : new Response("no", { status: 400 })) };
      let port: number;
      if (kind === "bun") {
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch as never, websocket: handlers as never });
        cleanups.push(() => server.stop(true));
        port = server.port!;
      } else {
        const server = serve(app as never, { port: 0, hostname: "127.0.0.1", websocket: handlers as never });
        cleanups.push(() => server.stop({ graceful: false }));
        port = server.port;
      }
      const c = await Raw.connect(port);
      c.write(upgradeHead("/"));
      await c.until((b) => {
        const e = headEnd(b);
        if (e < 0) return false;
        // header 10 bytes per 256 KiB frame
        return b.length - e - 4 >= sent * (chunk.length + 10);
      }, "every frame");
      await drained.promise;
      const frames = readServerFrames(c.received.subarray(headEnd(c.received) + 4));
      out[kind] = { events, framesInOrder: frames.every((f, i) => f.op === OP_BINARY && f.payload.length === chunk.length && f.payload[0] === i && f.payload.at(-1) === i) && frames.length === sent };
    }
    expect(out.liveframe).toEqual({ events: ["send -1", "drain"], framesInOrder: true });
    expect(out.bun).toEqual({ events: ["send -1", "drain"], framesInOrder: true });
  });
});

// Unused opcode names keep the import list honest for readers of the frames above.
void OP_PONG;
void OP_PING;

describe("liveframe only", () => {
  test("a graceful stop() closes open WebSockets with 1001 (going away) and finishes", async () => {
    const log: string[] = [];
    const server = serve(honoApp(upgradeWebSocket, log), { port: 0, hostname: "127.0.0.1" });
    cleanups.push(() => server.stop({ graceful: false }));
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    const closed = Promise.withResolvers<number>();
    ws.onclose = (e) => closed.resolve(e.code);
    await new Promise<void>((resolve) => (ws.onopen = () => resolve()));
    await server.stop({ graceful: true, timeoutMs: 10_000 });
    expect(await closed.promise).toBe(1001);
    expect(log).toEqual(["open ", "close 1001"]);
    expect(server.counts.open).toBe(0);
  });

  test("bad websocket options are refused with what is wrong", () => {
    const app = honoApp(upgradeWebSocket, []);
    expect(() => serve(app, { port: 0, hostname: "127.0.0.1", websocket: { maxMessageBytes: -1 } })).toThrow(/invalid websocket options: maxMessageBytes: maxMessageBytes must be greater than 0/);
    expect(() => serve(app, { port: 0, hostname: "127.0.0.1", websocket: { message: "no" } as never })).toThrow("liveframe: websocket.message must be a function");
    expect(() => serve(app, { port: 0, hostname: "127.0.0.1", websocket: { idleTimeout: 5 } as never })).toThrow(/unknown option "idleTimeout"/);
  });
});

describe("Bun-style topics (ws.raw.subscribe / publish, c.env.publish / subscriberCount)", () => {
  function roomApp(upgrade: typeof upgradeWebSocket) {
    const app = new Hono();
    app.get(
      "/room",
      upgrade((c) => {
        const name = c.req.query("name") ?? "?";
        return {
          onOpen: (_e, ws) => (ws.raw as unknown as { subscribe(t: string): void }).subscribe("room"),
          onMessage: (e, ws) => void (ws.raw as unknown as { publish(t: string, d: string): number }).publish("room", `${name}: ${e.data}`),
        };
      }),
    );
    app.get("/announce", (c) => {
      const env = c.env as { publish(t: string, d: string): number; subscriberCount(t: string): number };
      env.publish("room", "announce");
      return c.text(String(env.subscriberCount("room")));
    });
    return app;
  }
  test("publish reaches the other subscribers, not the sender; server publish reaches all; a closed WebSocket leaves its topics", async () => {
    const out: Record<Kind, string[]> = { bun: [], liveframe: [] };
    for (const kind of ["bun", "liveframe"] as Kind[]) {
      let port: number;
      if (kind === "bun") {
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: roomApp(bunUpgradeWebSocket as typeof upgradeWebSocket).fetch, websocket: bunWebsocket });
        cleanups.push(() => server.stop(true));
        port = server.port!;
      } else {
        const server = serve(roomApp(upgradeWebSocket), { port: 0, hostname: "127.0.0.1" });
        cleanups.push(() => server.stop({ graceful: false }));
        port = server.port;
      }
      const got: Record<string, string[]> = { a: [], b: [], c: [] };
      const waiters: (() => void)[] = [];
      const sockets: Record<string, WebSocket> = {};
      await Promise.all(
        ["a", "b", "c"].map((name) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/room?name=${name}`);
          sockets[name] = ws;
          ws.onmessage = (e) => {
            got[name]!.push(String(e.data));
            for (const w of waiters.splice(0)) w();
          };
          return new Promise<void>((resolve) => (ws.onopen = () => resolve()));
        }),
      );
      const until = async (cond: () => boolean) => {
        while (!cond()) await new Promise<void>((r) => waiters.push(r));
      };
      sockets.a!.send("hi");
      await until(() => got.b!.length === 1 && got.c!.length === 1);
      const count1 = await (await fetch(`http://127.0.0.1:${port}/announce`)).text();
      await until(() => got.a!.length === 1 && got.b!.length === 2 && got.c!.length === 2);
      // What each received so far: the polling below publishes "announce" again each time.
      const seen = Object.entries(got).map(([n, m]) => `${n}: ${m.slice(0, 2).join(" | ")}`);
      const closed = new Promise<void>((r) => (sockets.c!.onclose = () => r()));
      sockets.c!.close();
      await closed;
      // The server sees c's close before or after this request; ask until it has (bounded).
      let count2 = "";
      for (let i = 0; i < 100 && count2 !== "2"; i++) count2 = await (await fetch(`http://127.0.0.1:${port}/announce`)).text();
      sockets.a!.close();
      sockets.b!.close();
      out[kind] = [`count ${count1}`, `count after close ${count2}`, ...seen];
    }
    expect(out.liveframe).toEqual(out.bun);
    expect(out.liveframe).toEqual(["count 3", "count after close 2", "a: announce", "b: a: hi | announce", "c: a: hi | announce"]);
  });
});
