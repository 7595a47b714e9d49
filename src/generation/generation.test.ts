// Two Generation objects in one process, each with a real HTTP engine on loopback and a real
// channel between them (socketpairs, SCM_RIGHTS), built from a test environment (env.ts): the
// supervisor is a list of what they told it, exit is recorded, and a test can fail a receive,
// kill the peer at a chosen step, or drop a channel, with no process spawned.
import { afterEach, expect, test } from "bun:test";
import { close, createListener } from "../../ffi/index.ts";
import { Channel, channelPair, peerMessageSchema, type ChannelHandlers, type GenerationMessage, type PeerMessage } from "../handoff/index.ts";
import { createServer } from "../http/index.ts";
import { get, RawClient } from "../../test/http-support.ts";
import type { GenerationEnv, PeerChannel } from "./env.ts";
import { Generation } from "./generation.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Intercepts a peer channel's incoming messages: return true to swallow one. */
type PeerTap = (m: PeerMessage, fds: number[], channel: PeerChannel) => boolean;

interface TestGeneration {
  gen: Generation;
  told: GenerationMessage[];
  logs: string[];
  exitCode: number | null;
  /** Taps on channels this generation opens from now on. */
  tap: PeerTap | null;
}

/**
 * `room`: when given, the generation's engine reports `room.n` as how many connections it can
 * adopt before it nears its fd limit (as a process with that many fds free would).
 */
async function generation(name: string, number: number, drainTimeoutMs = 10_000, room?: { n: number }): Promise<TestGeneration> {
  const t: TestGeneration = { gen: null as never, told: [], logs: [], exitCode: null, tap: null };
  const env: GenerationEnv = {
    pid: 1000 + number,
    tell: (m) => void t.told.push(m),
    openPeer: async (ends, peer, handlers: ChannelHandlers<PeerMessage>) => {
      const tap = t.tap;
      const ch: Channel<PeerMessage, PeerMessage> = await Channel.open<PeerMessage, PeerMessage>(ends, peerMessageSchema, peer, {
        message: (m, fds) => {
          if (tap?.(m, fds, ch)) return;
          handlers.message(m, fds);
        },
        close: (e) => handlers.close(e),
      });
      cleanups.push(() => ch.close());
      return ch;
    },
    loadApp: async () => ({
      app: {
        fetch: async (req: Request) => {
          const body = req.method === "POST" ? ` posted ${(await req.text()).length}` : "";
          return new Response(`${name}:${new URL(req.url).pathname}${body}`);
        },
      },
      importMs: 0,
    }),
    createServer: (app, options) => {
      const server = createServer(app, options as never);
      if (room) server.adoptCapacity = () => room.n;
      return server;
    },
    announceNumber: () => {},
    closeFd: (fd) => close(fd),
    now: () => performance.now(),
    sleep: (ms) => Bun.sleep(ms),
    every: () => {},
    log: (line) => void t.logs.push(line),
    syncState: async () => {},
    exit: (code) => void (t.exitCode ??= code),
  };
  t.gen = new Generation(env);
  await t.gen.receive({ type: "boot", config: { generation: number, entry: `/${name}.ts`, server: {}, health: false, drainTimeoutMs, runtimeDir: "/tmp" } }, []);
  expect(t.told.map((m) => m.type)).toEqual(["ready"]);
  cleanups.push(() => t.gen.server?.stop({ graceful: false }));
  return t;
}

/** A listening socket on loopback, handed to `g` as the supervisor would (listen). */
async function listen(g: TestGeneration): Promise<number> {
  const l = createListener({ hostname: "127.0.0.1", port: 0, backlog: 64 });
  await g.gen.receive({ type: "listen", listeners: [{ address: "127.0.0.1", port: l.address.port, family: "IPv4" }] }, [l.fd]);
  return l.address.port;
}

/** Connects `from` (give) and `to` (take) as the supervisor does. */
async function handOver(from: TestGeneration, to: TestGeneration, fromNumber: number, toNumber: number): Promise<void> {
  const [a, b] = channelPair();
  await to.gen.receive({ type: "take", from: fromNumber }, [b.stream, b.fds]);
  await from.gen.receive({ type: "give", to: toNumber }, [a.stream, a.fds]);
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await Bun.sleep(10);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

function toldOf<T extends GenerationMessage["type"]>(g: TestGeneration, type: T): Extract<GenerationMessage, { type: T }>[] {
  return g.told.filter((m) => m.type === type) as Extract<GenerationMessage, { type: T }>[];
}

async function clients(port: number, n: number, name: string): Promise<RawClient[]> {
  const out: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await RawClient.connect(port);
    cleanups.push(() => c.close());
    c.write(get(`/c${i}`));
    expect((await c.response()).body.toString()).toBe(`${name}:/c${i}`);
    out.push(c);
  }
  return out;
}

/** A POST whose body is half sent: busy in its generation until `finish`. */
async function busyPost(port: number): Promise<{ c: RawClient; finish(): void }> {
  const c = await RawClient.connect(port);
  cleanups.push(() => c.close());
  c.write("POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nhalf");
  return { c, finish: () => c.write("-rest!") };
}

const intact = (c: RawClient) => [c.ended, c.closed, c.error];

test("give: idle connections move at once (handed-over tells the busy count); a busy one finishes here and moves late; given counts completed, cut and late truthfully", async () => {
  const old = await generation("A", 1);
  const next = await generation("B", 2);
  const port = await listen(old);
  const idle = await clients(port, 3, "A");
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, next, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  expect(toldOf(old, "handed-over")[0]).toEqual({ type: "handed-over", to: 2, connectionsMoved: 3, failed: 0, busy: 1, open: 1 });
  for (const c of idle) {
    c.write(get("/after"));
    expect((await c.response()).body.toString()).toBe("B:/after");
  }
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  await until("given", () => toldOf(old, "given").length === 1);
  expect(toldOf(old, "given")[0]).toEqual({ type: "given", connectionsMoved: 4, movedLate: 1, requestsCompleted: 1, requestsCut: 0, failed: 0 });
  post.c.write(get("/next"));
  expect((await post.c.response()).body.toString()).toBe("B:/next");
  await until("exit", () => old.exitCode !== null);
  expect(old.exitCode).toBe(0);
  expect(toldOf(next, "taken")).toEqual([{ type: "taken", from: 1, connectionsAdopted: 4 }]);
  for (const c of [...idle, post.c]) expect(intact(c)).toEqual([false, false, null]);
});

test("the new generation dies as the first batch arrives (before adopting it): the old one keeps every connection, says give-aborted, and on listen serves again; no client sees a close", async () => {
  const old = await generation("A", 1);
  const next = await generation("B", 2);
  const port = await listen(old);
  const idle = await clients(port, 3, "A");
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  next.tap = (m, fds, ch) => {
    if (m.type !== "connections") return false;
    // The process dies here: the fds it received close with it, and so does its channel end.
    for (const fd of fds) close(fd);
    ch.close();
    void next.gen.server!.stop({ graceful: false });
    return true;
  };
  await handOver(old, next, 1, 2);
  await until("give-aborted", () => toldOf(old, "give-aborted").length === 1);
  expect(toldOf(old, "give-aborted")[0]).toMatchObject({ to: 2, open: 4, busy: 1 });
  expect(toldOf(old, "handed-over")).toEqual([]);
  // The supervisor makes it serve again.
  const port2 = await listen(old);
  expect(toldOf(old, "listening").length).toBe(2);
  for (const c of idle) {
    c.write(get("/still"));
    expect((await c.response()).body.toString()).toBe("A:/still");
  }
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  const fresh = await clients(port2, 1, "A");
  await Bun.sleep(50); // a stray FIN would arrive now
  for (const c of [...idle, post.c, ...fresh]) expect(intact(c)).toEqual([false, false, null]);
  expect(old.exitCode).toBeNull();
  expect(old.gen.draining).toBe(false);
});

test("the new generation dies after it adopted the idle batch: those die with it; the old one keeps its busy connection, finishes it, and hands it to a replacement", async () => {
  const old = await generation("A", 1);
  const next = await generation("B", 2);
  const port = await listen(old);
  const idle = await clients(port, 2, "A");
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  let batches = 0;
  next.tap = (m, fds, ch) => {
    if (m.type !== "connections" || ++batches < 2) return false;
    // Killed at a chosen step: the second batch (the POST's connection, idle at last) arrives.
    for (const fd of fds) close(fd);
    ch.close();
    void next.gen.server!.stop({ graceful: false });
    return true;
  };
  await handOver(old, next, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  await until("give-aborted", () => toldOf(old, "give-aborted").length === 1);
  // What the dead one held is gone; what it never confirmed is served here.
  for (const c of idle) await c.closedByPeer();
  post.c.write(get("/kept"));
  expect((await post.c.response()).body.toString()).toBe("A:/kept");
  // A replacement serves: the old generation hands the connection there.
  const replacement = await generation("C", 3);
  await handOver(old, replacement, 1, 3);
  await until("given", () => toldOf(old, "given").length === 1);
  post.c.write(get("/moved"));
  expect((await post.c.response()).body.toString()).toBe("C:/moved");
  expect(intact(post.c)).toEqual([false, false, null]);
  expect(toldOf(old, "given")[0]).toMatchObject({ requestsCompleted: 2, requestsCut: 0 });
});

test("recvmsg fails on the new side (EMFILE): it keeps serving, takes nothing; the old one keeps every connection and says why", async () => {
  const old = await generation("A", 1);
  const next = await generation("B", 2);
  const port = await listen(old);
  const idle = await clients(port, 3, "A");
  next.tap = (m, fds, ch) => {
    if (m.type !== "connections") return false;
    // What Channel does when recvmsg fails: the fds never arrive (they are dropped with the
    // channel), and the channel closes with the error.
    for (const fd of fds) close(fd);
    ch.close();
    return true;
  };
  await handOver(old, next, 1, 2);
  await until("give-aborted", () => toldOf(old, "give-aborted").length === 1);
  await until("taken", () => toldOf(next, "taken").length === 1);
  expect(toldOf(next, "taken")[0]).toEqual({ type: "taken", from: 1, connectionsAdopted: 0 });
  expect(toldOf(old, "give-aborted")[0]).toMatchObject({ open: 3, busy: 0 });
  await listen(old);
  for (const c of idle) {
    c.write(get("/still"));
    expect((await c.response()).body.toString()).toBe("A:/still");
    expect(intact(c)).toEqual([false, false, null]);
  }
  expect(next.exitCode).toBeNull();
});

test("a draining generation pointed at a newer one: its late connection goes there, and the previous one is told done", async () => {
  const old = await generation("A", 1);
  const second = await generation("B", 2);
  const third = await generation("C", 3);
  const port = await listen(old);
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, second, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  await handOver(old, third, 1, 3);
  await until("generation 2's take to end", () => toldOf(second, "taken").length === 1);
  expect(toldOf(second, "taken")[0]).toEqual({ type: "taken", from: 1, connectionsAdopted: 0 });
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  post.c.write(get("/late"));
  expect((await post.c.response()).body.toString()).toBe("C:/late");
  await until("given", () => toldOf(old, "given").length === 1);
  expect(toldOf(old, "given")[0]).toMatchObject({ connectionsMoved: 1, movedLate: 1, requestsCompleted: 1, requestsCut: 0 });
});

test("cut (too many generations draining): the busy request is cut now and counted as cut, not completed", async () => {
  const old = await generation("A", 1, 60_000);
  const next = await generation("B", 2);
  const port = await listen(old);
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, next, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  await old.gen.receive({ type: "cut", reason: "4 generations are draining already" }, []);
  await post.c.closedByPeer();
  await until("given", () => toldOf(old, "given").length === 1);
  expect(toldOf(old, "given")[0]).toMatchObject({ requestsCompleted: 0, requestsCut: 1 });
  expect(old.logs.join("\n")).toContain("4 generations are draining already: cutting 1 busy connections now");
});

test("the supervisor's channel drops: the generation exits (0 on a close, 71 on a protocol error)", async () => {
  const a = await generation("A", 1);
  a.gen.supervisorGone();
  expect(a.exitCode).toBe(0);
  const b = await generation("B", 2);
  b.gen.supervisorGone(new Error("malformed message from supervisor"));
  expect(b.exitCode).toBe(71);
  expect(b.logs[0]).toContain("malformed message from supervisor");
});

test("a give whose channel cannot be opened (Bun refuses the fd, fds exhausted): the generation never stopped accepting; it says give-aborted (accepting) and serves on", async () => {
  const old = await generation("A", 1);
  const port = await listen(old);
  const idle = await clients(port, 2, "A");
  const [a, b] = channelPair();
  close(a.stream); // the stream end is gone: opening the channel fails
  await old.gen.receive({ type: "give", to: 2 }, [a.stream, a.fds]);
  for (const fd of [b.stream, b.fds]) close(fd);
  expect(toldOf(old, "give-aborted")).toEqual([
    { type: "give-aborted", to: 2, reason: expect.stringContaining("the channel to generation 2 could not be opened"), open: 2, busy: 0, accepting: true, cause: "no-channel" },
  ]);
  expect(old.gen.draining).toBe(false);
  for (const c of idle) {
    c.write(get("/still"));
    expect((await c.response()).body.toString()).toBe("A:/still");
  }
  const fresh = await clients(port, 1, "A"); // still accepting on its listener
  for (const c of [...idle, ...fresh]) expect(intact(c)).toEqual([false, false, null]);
});

test("a new generation with room for fewer connections than the old one holds (busy ones count): nothing moves, the old one accepts again and says give-aborted (capacity); the new one's room is free again", async () => {
  const old = await generation("A", 1);
  const next = await generation("B", 2, 10_000, { n: 3 });
  const port = await listen(old);
  const idle = await clients(port, 3, "A");
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, next, 1, 2);
  await until("give-aborted", () => toldOf(old, "give-aborted").length === 1);
  const m = toldOf(old, "give-aborted")[0]!;
  expect([m.cause, m.accepting, m.open, m.busy]).toEqual(["capacity", true, 4, 1]);
  expect(m.reason).toContain("generation 2 can take 3 more connections before it nears its file descriptor limit");
  expect(m.reason).toContain("and generation 1 holds 4: nothing was handed over, and generation 1 keeps serving all 4 connections");
  expect(toldOf(old, "handed-over")).toEqual([]);
  expect(old.gen.draining).toBe(false);
  await until("taken", () => toldOf(next, "taken").length === 1);
  expect(toldOf(next, "taken")[0]).toEqual({ type: "taken", from: 1, connectionsAdopted: 0 });
  for (const c of idle) {
    c.write(get("/still"));
    expect((await c.response()).body.toString()).toBe("A:/still");
  }
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  // Accepting again on the same listener (it was only held while the offer was answered).
  const fresh = await clients(port, 1, "A");
  for (const c of [...idle, post.c, ...fresh]) expect(intact(c)).toEqual([false, false, null]);
});

test("a late connection the newest generation has no room for stays in the draining generation and is served there; it moves once room is granted; never closed for lack of room", async () => {
  const old = await generation("A", 1);
  const second = await generation("B", 2);
  const room = { n: 0 };
  const third = await generation("C", 3, 10_000, room);
  const port = await listen(old);
  const idle = await clients(port, 1, "A");
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, second, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  expect(toldOf(old, "handed-over")[0]).toMatchObject({ connectionsMoved: 1, busy: 1 });
  // Re-pointed at generation 3, which has no room now.
  await handOver(old, third, 1, 3);
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  // Idle now, but there is no room for it in generation 3: it is served where it is.
  post.c.write(get("/kept"));
  expect((await post.c.response()).body.toString()).toBe("A:/kept");
  expect(old.gen.server!.counts.open).toBe(1);
  // Room frees up: the draining generation asks again and the connection moves.
  room.n = 10;
  await until("given", () => toldOf(old, "given").length === 1);
  post.c.write(get("/moved"));
  expect((await post.c.response()).body.toString()).toBe("C:/moved");
  expect(toldOf(old, "given")[0]).toMatchObject({ connectionsMoved: 2, movedLate: 1, requestsCut: 0, failed: 0 });
  expect(toldOf(third, "taken")).toEqual([{ type: "taken", from: 1, connectionsAdopted: 1 }]);
  for (const c of [...idle, post.c]) expect(intact(c)).toEqual([false, false, null]);
});

test("a late connection with no room anywhere until the drain deadline closes there at a request boundary (its request completed), not cut", async () => {
  const old = await generation("A", 1, 1_500);
  const next = await generation("B", 2);
  const room = { n: 0 };
  const newest = await generation("C", 3, 10_000, room);
  const port = await listen(old);
  const post = await busyPost(port);
  await until("the POST to be busy", () => old.gen.server!.counts.busy === 1);
  await handOver(old, next, 1, 2);
  await until("handed-over", () => toldOf(old, "handed-over").length === 1);
  await handOver(old, newest, 1, 3);
  post.finish();
  expect((await post.c.response()).body.toString()).toBe("A:/up posted 10");
  await post.c.closedByPeer();
  await until("given", () => toldOf(old, "given").length === 1);
  expect(toldOf(old, "given")[0]).toMatchObject({ connectionsMoved: 0, requestsCompleted: 1, requestsCut: 0 });
});
