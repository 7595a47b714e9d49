// The client's address (issue 8, item 4): hono/bun's own getConnInfo and liveframe's getConnInfo
// answer on serve() exactly as hono/bun's does under Bun.serve, for IPv4 and IPv6 clients on a
// dual-stack listener, and a connection adopted from another server keeps its peer's address.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { getConnInfo as honoBunGetConnInfo } from "hono/bun";
import { dup } from "../ffi/index.ts";
import { getConnInfo } from "../src/index.ts";
import { createServer, serve, type HttpServer, type ReleasedConnection } from "../src/http/index.ts";
import { get, RawClient } from "./http-support.ts";

function appNamed(name: string) {
  const app = new Hono();
  app.get("/hono-bun", (c) => c.json(honoBunGetConnInfo(c)));
  app.get("/liveframe", (c) => c.json(getConnInfo(c)));
  app.get("/request-ip", (c) => c.json((c.env as { requestIP(r: Request): unknown }).requestIP(c.req.raw)));
  app.get("/request-ip-of-a-copy", (c) => c.json((c.env as { requestIP(r: Request): unknown }).requestIP(new Request(c.req.url))));
  app.get("/name", (c) => c.text(name));
  app.get("/upgrade", (c) => c.json((c.env as { upgrade(r: Request): unknown }).upgrade(c.req.raw)));
  return app;
}

const servers: HttpServer[] = [];
const bunServers: ReturnType<typeof Bun.serve>[] = [];
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) if (!c.closed) c.socket.terminate();
});
afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop({ graceful: false });
  for (const b of bunServers.splice(0)) b.stop(true);
});

async function ask(port: number, client: string, paths: string[]): Promise<{ localPort: number; answers: unknown[] }> {
  const c = await RawClient.connect(port, client);
  clients.push(c);
  const answers: unknown[] = [];
  for (const p of paths) {
    c.write(get(p));
    const r = await c.response();
    expect(r.status).toBe(200);
    answers.push(JSON.parse(r.body.toString()));
  }
  return { localPort: (c.socket as unknown as { localPort: number }).localPort, answers };
}

describe("getConnInfo on serve() and on Bun.serve, same app", () => {
  const app = appNamed("A");
  const lf = serve(app, { port: 0, hostname: "::" });
  const bun = Bun.serve({ port: 0, hostname: "::", fetch: app.fetch });
  servers.push(lf);
  bunServers.push(bun);
  const paths = ["/hono-bun", "/liveframe", "/request-ip", "/request-ip-of-a-copy"];

  for (const [client, address, addressType] of [
    ["127.0.0.1", "::ffff:127.0.0.1", "IPv6"],
    ["::1", "::1", "IPv6"],
  ] as const) {
    test(`a client on ${client} with a "::" listener: ${address} (${addressType}), the client's port`, async () => {
      const onLf = await ask(lf.port, client, paths);
      const onBun = await ask(Number(bun.port), client, paths);
      const expected = (port: number) => [
        { remote: { address, addressType, port } },
        { remote: { address, addressType, port } },
        { address, family: addressType, port },
        null, // a Request the server did not receive has no address, as Bun.serve says
      ];
      expect(onBun.answers).toEqual(expected(onBun.localPort));
      expect(onLf.answers).toEqual(expected(onLf.localPort));
    });
  }

  test("an IPv4 listener reports IPv4", async () => {
    const v4 = serve(app, { port: 0, hostname: "127.0.0.1" });
    servers.push(v4);
    const bun4 = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    bunServers.push(bun4);
    const onLf = await ask(v4.port, "127.0.0.1", ["/hono-bun", "/liveframe"]);
    const onBun = await ask(Number(bun4.port), "127.0.0.1", ["/hono-bun", "/liveframe"]);
    const remote = (port: number) => ({ remote: { address: "127.0.0.1", addressType: "IPv4", port } });
    expect(onBun.answers).toEqual([remote(onBun.localPort), remote(onBun.localPort)]);
    expect(onLf.answers).toEqual([remote(onLf.localPort), remote(onLf.localPort)]);
  });

  test("an Upgrade: websocket request without Sec-WebSocket-Version: liveframe (which always serves WebSockets) answers 426 before the app, as Bun.serve with a websocket handler does; Bun.serve without one lets the app call upgrade, which throws", async () => {
    const errors: string[] = [];
    app.onError((err, ctx) => {
      errors.push(`${err.name}: ${err.message}`);
      return ctx.text("no", 500);
    });
    const statuses: number[] = [];
    for (const port of [lf.port, Number(bun.port)]) {
      const c = await RawClient.connect(port, "::1");
      clients.push(c);
      c.write(get("/upgrade", "Upgrade: websocket\r\nConnection: Upgrade\r\n"));
      const r = await c.response();
      statuses.push(r.status);
    }
    expect(statuses).toEqual([426, 500]);
    expect(errors.length).toBe(1);
    expect(errors[0]).toStartWith("TypeError: To enable websocket support");
  });
});

describe("an adopted connection keeps its peer's address", () => {
  for (const client of ["127.0.0.1", "::1"]) {
    test(`a client on ${client}, released by one server and adopted by another: same address and port`, async () => {
      const a = serve(appNamed("A"), { port: 0, hostname: "::" });
      const b = createServer(appNamed("B"));
      servers.push(a, b);
      const c = await RawClient.connect(a.port, client);
      clients.push(c);
      const localPort = (c.socket as unknown as { localPort: number }).localPort;
      const address = client === "::1" ? "::1" : "::ffff:127.0.0.1";
      const expected = { remote: { address, addressType: "IPv6", port: localPort } };
      c.write(get("/liveframe"));
      expect(JSON.parse((await c.response()).body.toString())).toEqual(expected);
      const released: ReleasedConnection[] = [];
      a.release((rc) => {
        released.push(rc);
        b.adopt(dup(rc.fd), rc.buffered);
        rc.handedOver();
      });
      expect(released.length).toBe(1);
      // The handoff wire carries the address too (getpeername; v4-mapped in dotted form, as Bun writes it).
      expect(released[0]!.remote).toEqual({ address, port: localPort });
      c.write(get("/name"));
      expect((await c.response()).body.toString()).toBe("B");
      for (const p of ["/liveframe", "/hono-bun"]) {
        c.write(get(p));
        expect(JSON.parse((await c.response()).body.toString())).toEqual(expected);
      }
    });
  }
});
