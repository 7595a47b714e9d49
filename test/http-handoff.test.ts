// release → adopt between two engines in one process: the connection keeps its bytes, the client
// sees neither EOF nor reset, and the new owner answers. (Across processes: the reload tests.)
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { dup } from "../ffi/index.ts";
import { createServer, serve, type HttpServer, type ReleasedConnection } from "../src/http/index.ts";
import { get, RawClient } from "./http-support.ts";

function appNamed(name: string) {
  return {
    async fetch(req: Request) {
      const path = new URL(req.url).pathname;
      if (path === "/slow") await Bun.sleep(200);
      return new Response(`${name}:${path}`);
    },
  };
}

const servers: HttpServer[] = [];
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) if (!c.closed) c.socket.terminate();
});
afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop({ graceful: false });
});

function pair(): { a: HttpServer; b: HttpServer } {
  const a = serve(appNamed("A"), { port: 0, hostname: "127.0.0.1" });
  const b = createServer(appNamed("B"));
  servers.push(a, b);
  return { a, b };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

/** Hands every released connection of `from` to `to` (a dup stands in for SCM_RIGHTS). */
function handTo(to: HttpServer, seen: ReleasedConnection[] = [], buffered: string[] = []) {
  return (rc: ReleasedConnection) => {
    seen.push(rc);
    buffered.push(Buffer.from(rc.buffered).toString("latin1"));
    to.adopt(dup(rc.fd), rc.buffered);
    rc.handedOver();
  };
}

describe("release and adopt", () => {
  test("idle connection with a partial next request moves; client sees no EOF and no reset", async () => {
    const { a, b } = pair();
    const c = await connect(a.port);
    c.write(get("/one") + "GET /two HTTP/1.1\r\nHo");
    expect((await c.response()).body.toString()).toBe("A:/one");
    await Bun.sleep(20);
    const buffered: string[] = [];
    a.release(handTo(b, [], buffered));
    expect(buffered).toEqual(["GET /two HTTP/1.1\r\nHo"]);
    c.write("st: t\r\n\r\n");
    expect((await c.response()).body.toString()).toBe("B:/two");
    await Bun.sleep(300); // time for a stray FIN or RST to arrive
    expect([c.ended, c.closed, c.error]).toEqual([false, false, null]);
    c.write(get("/three"));
    expect((await c.response()).body.toString()).toBe("B:/three");
    expect(a.counts).toMatchObject({ open: 0, released: 1 });
    expect(b.counts).toMatchObject({ open: 1, idle: 1 });
    // When the new owner closes, the client sees a clean FIN: the old owner left no SO_LINGER 0
    // behind (terminate() would, and this close would then be a reset).
    c.write(get("/bye", "Connection: close\r\n"));
    expect((await c.response()).body.toString()).toBe("B:/bye");
    await c.closedByPeer();
    await Bun.sleep(50);
    expect(c.error).toBeNull();
    expect(c.ended).toBe(true);
  });

  test("a busy connection finishes its request first, then moves with its pipelined request", async () => {
    const { a, b } = pair();
    const c = await connect(a.port);
    c.write(get("/slow") + get("/after"));
    await Bun.sleep(50);
    expect(a.counts.busy).toBe(1);
    const seen: ReleasedConnection[] = [];
    const buffered: string[] = [];
    a.release(handTo(b, seen, buffered));
    expect(seen.length).toBe(0); // not while busy
    expect((await c.response()).body.toString()).toBe("A:/slow");
    // The pipelined request was read by A but never parsed there: B answers it from the bytes.
    expect((await c.response()).body.toString()).toBe("B:/after");
    expect(buffered).toEqual([get("/after")]);
    expect([c.ended, c.closed, c.error]).toEqual([false, false, null]);
  });

  test("keep(): a failed handoff resumes serving in the old owner", async () => {
    const { a } = pair();
    const c = await connect(a.port);
    c.write(get("/x"));
    await c.response();
    let released: ReleasedConnection | undefined;
    a.release((rc) => (released = rc));
    expect(released).toBeDefined();
    expect(a.counts.releasing).toBe(1);
    c.write(get("/while-paused"));
    await Bun.sleep(100);
    expect(c.received.length).toBe(0); // paused: A reads nothing
    const first = released!;
    first.keep();
    expect((await c.response()).body.toString()).toBe("A:/while-paused");
    // Offered again after that request, not at once (which would loop).
    await Bun.sleep(20);
    expect(released).not.toBe(first);
    expect(a.counts.releasing).toBe(1);
  });

  test("connections accepted after release() are released at their first boundary", async () => {
    const { a, b } = pair();
    const seen: ReleasedConnection[] = [];
    a.release(handTo(b, seen));
    const c = await connect(a.port);
    c.write(get("/late"));
    expect((await c.response()).body.toString()).toBe("B:/late");
    expect(seen.length).toBe(1);
  });

  test("the listener moves: new connections go to the new owner", async () => {
    const { a, b } = pair();
    const port = a.port;
    b.listen(dup(a.listenerFds[0]!));
    a.stopAccepting();
    expect(a.listenerFds).toEqual([]);
    expect(b.port).toBe(port);
    for (let i = 0; i < 3; i++) {
      const c = await connect(port);
      c.write(get("/new"));
      expect((await c.response()).body.toString()).toBe("B:/new");
    }
  });

  test("many connections move at once, none lost", async () => {
    const { a, b } = pair();
    const cs = await Promise.all(Array.from({ length: 32 }, () => connect(a.port)));
    for (const c of cs) c.write(get("/before"));
    for (const c of cs) expect((await c.response()).body.toString()).toBe("A:/before");
    await Bun.sleep(20);
    a.release(handTo(b));
    for (const c of cs) c.write(get("/after"));
    for (const c of cs) expect((await c.response()).body.toString()).toBe("B:/after");
    expect(a.counts).toMatchObject({ open: 0, released: 32 });
  });
});
