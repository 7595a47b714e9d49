// The Hono helper's contract with the engine, without sockets: what upgradeWebSocket passes to
// env.upgrade, what it returns, how the engine's handlers reach the app's events, and the open
// event of a WebSocket moved from the previous generation.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { upgradeWebSocket, websocket, WebSocketOpenEvent, type LiveWebSocketData } from "./upgrade.ts";
import { LiveServerWebSocket } from "./server-websocket.ts";
import { defaultSessionOptions, WebSocketSession } from "./session.ts";
import { FakeClock, FakeTransport } from "./testing/fakes.ts";
import type { WSContext } from "hono/ws";

const upgradeHeaders = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", "sec-websocket-protocol": "b, a" };

function appWith(seen: string[]) {
  const app = new Hono();
  app.get(
    "/ws",
    upgradeWebSocket(() => ({
      onOpen: (evt, ws) => seen.push(`open moved=${(evt as WebSocketOpenEvent).moved} attached=${JSON.stringify((evt as WebSocketOpenEvent).attached)} protocol=${ws.protocol}`),
      onMessage: (evt, ws) => {
        seen.push(`message ${typeof evt.data === "string" ? evt.data : `bytes:${new Uint8Array(evt.data as ArrayBuffer).join(",")}`}`);
        if (evt.data === "boom") throw new Error("handler failed");
        ws.raw!.attach({ count: seen.length });
      },
      onClose: (evt) => seen.push(`close ${evt.code} ${evt.reason}`),
      onError: (evt) => seen.push(`error ${((evt as Event & { error: Error }).error).message}`),
    })),
  );
  app.get("/ws", (c) => c.text("fallthrough", 404));
  return app;
}

function socketFor(data: LiveWebSocketData, moved = false, attached: any = null) {
  const transport = new FakeTransport();
  let ws!: LiveServerWebSocket<LiveWebSocketData>;
  const session = new WebSocketSession(
    transport,
    { onMessage: (d) => websocket.message(ws, d), onClose: (c, r) => websocket.close(ws, c, r) },
    { url: data.url.href, headers: [], protocol: data.protocol, extensions: "" },
    defaultSessionOptions,
    new FakeClock(),
  );
  ws = new LiveServerWebSocket(session, data, "127.0.0.1", moved, attached);
  return { ws, session, transport };
}

describe("upgradeWebSocket", () => {
  test("calls env.upgrade with hono/bun's data and returns the 101 sentinel (a 200 Response with no body, as hono/bun)", async () => {
    const seen: string[] = [];
    let got: { request: Request; data: LiveWebSocketData } | null = null;
    const env = {
      upgrade(request: Request, o?: { data?: unknown }) {
        got = { request, data: o!.data as LiveWebSocketData };
        return true;
      },
    };
    const req = new Request("http://h/ws?x=1", { headers: upgradeHeaders });
    const res = await appWith(seen).fetch(req, env);
    expect(res.status).toBe(200);
    expect(res.body).toBe(null);
    expect(got!.request).toBe(req);
    expect(got!.data.url.href).toBe("http://h/ws?x=1");
    expect(got!.data.protocol).toBe("b"); // the first offered, as hono/bun records it
    expect(typeof got!.data.events.onMessage).toBe("function");
  });
  test("env.upgrade returning false falls through to the next handler", async () => {
    const res = await appWith([]).fetch(new Request("http://h/ws"), { upgrade: () => false });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe("fallthrough");
  });
  test("env.server is used when present (hono/bun's getBunServer does the same)", async () => {
    let called = false;
    await appWith([]).fetch(new Request("http://h/ws", { headers: upgradeHeaders }), { server: { upgrade: () => (called = true) } });
    expect(called).toBe(true);
  });
  test("no server in env: a TypeError that says what to do", async () => {
    const app = appWith([]);
    app.onError((e) => new Response(e.message, { status: 500 }));
    const res = await app.fetch(new Request("http://h/ws", { headers: upgradeHeaders }));
    expect(await res.text()).toMatch(/no server as its 2nd argument.*serve the app with liveframe/);
  });
});

describe("the engine's handlers reach the app's events", () => {
  async function dataFor(seen: string[]): Promise<LiveWebSocketData> {
    let data!: LiveWebSocketData;
    await appWith(seen).fetch(new Request("http://h/ws", { headers: upgradeHeaders }), {
      upgrade: (_r: Request, o?: { data?: unknown }) => ((data = o!.data as LiveWebSocketData), true),
    });
    return data;
  }
  test("open, text and binary messages (binary as the message's own ArrayBuffer), close", async () => {
    const seen: string[] = [];
    const { ws } = socketFor(await dataFor(seen));
    websocket.open(ws);
    websocket.message(ws, "hi");
    const big = Buffer.allocUnsafeSlow(3);
    big.set([1, 2, 3]);
    websocket.message(ws, big);
    websocket.close(ws, 1000, "bye");
    expect(seen).toEqual(["open moved=false attached=null protocol=b", "message hi", "message bytes:1,2,3", "close 1000 bye"]);
    expect(ws.attached).toEqual({ count: 3 });
  });
  test("a throwing handler goes to onError, as with hono/bun", async () => {
    const seen: string[] = [];
    const { ws } = socketFor(await dataFor(seen));
    websocket.message(ws, "boom");
    expect(seen).toEqual(["message boom", "error handler failed"]);
  });
  test("a moved WebSocket opens with moved=true and the value the old generation attached", async () => {
    const seen: string[] = [];
    const { ws } = socketFor(await dataFor(seen), true, { user: "ada" });
    websocket.open(ws);
    expect(seen).toEqual(['open moved=true attached={"user":"ada"} protocol=b']);
  });
  test("attach refuses what cannot move as JSON, saying why", async () => {
    const { ws } = socketFor(await dataFor([]));
    expect(() => ws.attach(undefined as any)).toThrow(/must be JSON/);
    const cyclic: any = {};
    cyclic.self = cyclic;
    expect(() => ws.attach(cyclic)).toThrow(/must be JSON/);
    ws.attach({ ok: [1, "two", null] });
    expect(ws.attached).toEqual({ ok: [1, "two", null] });
  });
  test("WSContext.send and close go through the session", async () => {
    const seen: string[] = [];
    const data = await dataFor(seen);
    const { ws, transport } = socketFor(data);
    let ctx!: WSContext;
    data.events.onOpen = (_e, c) => void (ctx = c as WSContext);
    websocket.open(ws);
    ctx.send("out");
    ctx.close(4002, "x");
    expect(transport.take().map((f) => f.op)).toEqual([1, 8]);
    expect(ws.readyState).toBe(3);
  });
});
