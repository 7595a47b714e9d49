// WebSockets under the real CLI (`liveframe start`), across reloads. A Hono app using
// upgradeWebSocket from "liveframe" serves Bun's client and the npm ws client with nothing else
// configured. At a reload every WebSocket moves to the new generation at a message boundary
// (fd, bytes already read, upgrade request, the app's attached JSON value): the client sees no
// close, and the new code answers from then on. A new app that no longer upgrades the route
// closes them with 1012 (service restart); a failed reload leaves every WebSocket where it was.
import { expect, test } from "bun:test";
import { REPO, RawClient, servedBy, startServer, cleanUpAfterEachTest, waitGone } from "./fixtures/harness.ts";
import { RealWebSocket } from "../src/ws/testing/real-ws.ts";

cleanUpAfterEachTest();

/** The app, version `v`; each reply names the version, the generation, a per-connection count kept in the attached value, and whether it moved. */
function wsApp(v: number, withWs = true): string {
  return `
import { Hono } from "hono";
import { upgradeWebSocket, generation } from "${REPO}/src/index.ts";
const app = new Hono();
const me = () => \`\${generation.number} \${process.pid}\`;
${withWs ? "" : "/*"}
app.get("/ws", upgradeWebSocket(() => ({
  onOpen(evt, ws) {
    // A fresh WebSocket joins the topic "all"; a moved one brought its subscription along.
    if (!(evt as any).moved) (ws.raw as any).subscribe("all");
  },
  onMessage(evt, ws) {
    const raw = ws.raw as any;
    const n = (raw.attached?.n ?? 0) + 1;
    raw.attach({ n });
    ws.send(\`v${v} g\${generation.number} n\${n} moved=\${raw.moved} \${evt.data}\`);
  },
})));
app.get("/announce", (c) => {
  (c.env as any).publish("all", "announce v${v}");
  return c.text(String((c.env as any).subscriberCount("all")));
});
${withWs ? "" : "*/"}
app.get("*", (c) => c.text(\`\${me()} \${c.req.path}\`));
export default app;
`;
}

interface Client {
  kind: string;
  send(s: string): void;
  /** Every reply so far, in order. */
  replies: string[];
  /** Resolves with the next reply after the ones already taken. */
  next(): Promise<string>;
  closedWith: { code: number; reason: string } | null;
  closed: Promise<{ code: number; reason: string }>;
}

function makeClient(kind: string): { client: Client; onMessage(s: string): void; onClose(code: number, reason: string): void } {
  let taken = 0;
  const waiters: (() => void)[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  const client: Client = {
    kind,
    send: () => {},
    replies: [],
    async next() {
      while (client.replies.length <= taken) {
        if (client.closedWith) throw new Error(`${kind} client closed (${client.closedWith.code}) while waiting for a reply`);
        await new Promise<void>((r) => waiters.push(r));
      }
      return client.replies[taken++]!;
    },
    closedWith: null,
    closed: closed.promise,
  };
  return {
    client,
    onMessage(s) {
      client.replies.push(s);
      for (const w of waiters.splice(0)) w();
    },
    onClose(code, reason) {
      client.closedWith = { code, reason };
      closed.resolve({ code, reason });
      for (const w of waiters.splice(0)) w();
    },
  };
}

function bunClient(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const m = makeClient("bun");
  m.client.send = (s) => ws.send(s);
  ws.onmessage = (e) => m.onMessage(String(e.data));
  ws.onclose = (e) => m.onClose(e.code, e.reason);
  const opened = Promise.withResolvers<Client>();
  ws.onopen = () => opened.resolve(m.client);
  ws.onerror = () => opened.reject(new Error("Bun's WebSocket client could not connect"));
  return opened.promise;
}

function wsClient(port: number): Promise<Client> {
  const ws = new RealWebSocket(`ws://127.0.0.1:${port}/ws`);
  const m = makeClient("ws");
  m.client.send = (s) => ws.send(s);
  ws.on("message", (d: Buffer) => m.onMessage(d.toString()));
  ws.on("close", (code: number, reason: Buffer) => m.onClose(code, reason.toString()));
  ws.on("error", () => {});
  const opened = Promise.withResolvers<Client>();
  ws.on("open", () => opened.resolve(m.client));
  ws.on("unexpected-response", () => opened.reject(new Error("ws could not upgrade")));
  return opened.promise;
}

async function clients(port: number, n: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? bunClient(port) : wsClient(port))));
}

test("WebSockets move at a reload (no close, the new code answers, the attached value carries on); HTTP keep-alive connections move too; a new app without the route closes them with 1012", async () => {
  const server = await startServer({ source: wsApp(1) });
  const ws = await clients(server.port, 10);
  const first = await Promise.all(
    ws.map((c, i) => {
      c.send(`hi${i}`);
      return c.next();
    }),
  );
  expect(first).toEqual(ws.map((_, i) => `v1 g1 n1 moved=false hi${i}`));
  const http = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(server.port)));
  for (const c of http) expect(servedBy((await c.get("/before")).body).generation).toBe(1);

  server.writeApp(wsApp(2));
  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("14 connections handed over");
  const second = await Promise.all(
    ws.map((c, i) => {
      c.send(`again${i}`);
      return c.next();
    }),
  );
  expect(second).toEqual(ws.map((_, i) => `v2 g2 n2 moved=true again${i}`));
  for (const c of http) {
    expect(servedBy((await c.get("/after")).body).generation).toBe(2);
    expect({ closed: c.closed, error: c.error }).toEqual({ closed: false, error: null });
  }
  expect(ws.map((c) => c.closedWith)).toEqual(ws.map(() => null));
  // Their topic subscriptions moved with them: generation 2's publish reaches all 10.
  expect(await (await fetch(`http://127.0.0.1:${server.port}/announce`)).text()).toBe("10");
  expect(await Promise.all(ws.map((c) => c.next()))).toEqual(ws.map(() => "announce v2"));
  const gen1 = Number(/generation 1 pid (\d+)/.exec(server.log())?.[1]);
  expect(await waitGone(gen1, 15_000)).toBe(true);

  // Generation 3's app has no WebSocket route: it cannot take them over, so each is closed
  // with 1012 (service restart) and the client reconnects.
  server.writeApp(wsApp(3, false));
  expect((await server.reload()).code).toBe(0);
  expect(await Promise.all(ws.map((c) => c.closed))).toEqual(ws.map(() => ({ code: 1012, reason: "service restart" })));
}, 120_000);

test("50 WebSockets (Bun's and ws) × 10 reloads with messages in flight: every message answered exactly once, in order, the new code after each reload, no close", async () => {
  const server = await startServer({ source: wsApp(1) });
  const ws = await clients(server.port, 50);
  const sent = ws.map(() => 0);
  const RELOADS = 10;
  for (let round = 1; round <= RELOADS; round++) {
    // Each client keeps one message in flight all through the reload: a reply triggers the next.
    let flowing = true;
    const chains = ws.map(async (c, i) => {
      while (flowing) {
        c.send(`m${++sent[i]!}`);
        await c.next();
      }
    });
    server.writeApp(wsApp(round + 1));
    const r = await server.reload();
    expect(r.code).toBe(0);
    flowing = false;
    await Promise.all(chains);
    // After the reload returned: the new code answers.
    const after = await Promise.all(
      ws.map((c, i) => {
        c.send(`m${++sent[i]!}`);
        return c.next();
      }),
    );
    for (const [i, reply] of after.entries()) expect(reply.split(" ").slice(0, 2)).toEqual([`v${round + 1}`, `g${round + 1}`]);
    expect(after.every((reply, i) => reply.endsWith(` m${sent[i]}`))).toBe(true);
  }
  for (const [i, c] of ws.entries()) {
    // Exactly once and in order: reply k answers message k, and the count kept in the attached
    // value (moved with the WebSocket ten times) is k too.
    const problems = c.replies
      .map((reply, k) => {
        const [, , n, , msg] = reply.split(" ");
        return n === `n${k + 1}` && msg === `m${k + 1}` ? null : `${c.kind} client ${i} reply ${k + 1}: ${reply}`;
      })
      .filter((p) => p !== null);
    expect(problems).toEqual([]);
    expect(c.replies.length).toBe(sent[i]!);
    expect(c.closedWith).toBeNull();
  }
  // Messages really were in flight across the reloads: the chains ran while each reload did
  // (more than the one message per round sent after it), and replies came from all 11 generations.
  const total = sent.reduce((a, b) => a + b, 0);
  console.log(`reload-ws: ${total} messages over ${RELOADS} reloads on ${ws.length} WebSockets`);
  expect(total).toBeGreaterThan(ws.length * RELOADS * 2);
  const gens = new Set(ws.flatMap((c) => c.replies.map((r) => r.split(" ")[1])));
  expect(gens.size).toBe(RELOADS + 1);
}, 300_000);

test("a failed reload (the new app does not load) leaves every WebSocket on the old generation, open", async () => {
  const server = await startServer({ source: wsApp(1) });
  const ws = await clients(server.port, 10);
  for (const c of ws) c.send("a");
  expect((await Promise.all(ws.map((c) => c.next()))).every((r) => r.startsWith("v1 g1 n1 moved=false"))).toBe(true);
  server.writeApp("export default {;");
  const r = await server.reload();
  expect(r.code).not.toBe(0);
  for (const c of ws) c.send("b");
  expect((await Promise.all(ws.map((c) => c.next()))).every((r) => r.startsWith("v1 g1 n2 moved=false b"))).toBe(true);
  expect(ws.map((c) => c.closedWith)).toEqual(ws.map(() => null));
}, 120_000);

test("a WebSocket stuck mid-message (a fragment, never finished) cannot move: closed with 1012 at the drain deadline; the others move", async () => {
  const server = await startServer({ source: wsApp(1), flags: ["--drain-timeout", "1"] });
  const [moving] = await clients(server.port, 1);
  // A raw client: handshake, then the first fragment of a text message and nothing more.
  let raw = Buffer.alloc(0);
  const rawClosed = Promise.withResolvers<void>();
  const upgraded = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: server.port,
    socket: {
      data(_s, d) {
        raw = Buffer.concat([raw, d]);
        if (raw.includes("\r\n\r\n")) upgraded.resolve();
      },
      close: () => rawClosed.resolve(),
      error() {},
    },
  });
  socket.write("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await upgraded.promise;
  expect(raw.toString("latin1")).toStartWith("HTTP/1.1 101 ");
  raw = raw.subarray(raw.indexOf("\r\n\r\n") + 4);
  // Text frame, FIN=0, masked, payload "par".
  const mask = [1, 2, 3, 4];
  socket.write(new Uint8Array([0x01, 0x80 | 3, ...mask, ..."par".split("").map((ch, i) => ch.charCodeAt(0) ^ mask[i]!)]));
  moving!.send("x");
  expect(await moving!.next()).toBe("v1 g1 n1 moved=false x");

  server.writeApp(wsApp(2));
  expect((await server.reload()).code).toBe(0);
  await rawClosed.promise;
  // The server's close frame: opcode 8, code 1012.
  expect([raw[0]! & 0x0f, raw.readUInt16BE(2)]).toEqual([8, 1012]);
  moving!.send("y");
  expect(await moving!.next()).toBe("v2 g2 n2 moved=true y");
  socket.end();
}, 120_000);

test("a reload refused after the new generation booted (it has no file descriptors left for them all): nothing moves, every WebSocket stays open on the old generation", async () => {
  // From generation 2 on the app holds 80 more fds (a leak): under ulimit -n 128 it cannot take 40 WebSockets.
  const greedy = wsApp(1).replace(
    "const app = new Hono();",
    `import { openSync } from "node:fs";
const held: number[] = [];
if (Number(process.env.LIVEFRAME_GENERATION) >= 2) for (let i = 0; i < 80; i++) held.push(openSync("/dev/null", "r"));
const app = new Hono();`,
  );
  const server = await startServer({ source: greedy, fdLimit: 128 });
  const ws = await clients(server.port, 40);
  for (const c of ws) c.send("a");
  expect((await Promise.all(ws.map((c) => c.next()))).every((r) => r.startsWith("v1 g1 n1 moved=false a"))).toBe(true);
  const r = await server.reload();
  expect(r.code).toBe(1);
  expect(r.stderr + r.stdout).toMatch(/nothing was handed over, and generation 1 keeps serving all \d+ connections/);
  for (const c of ws) c.send("b");
  expect((await Promise.all(ws.map((c) => c.next()))).every((r) => r.startsWith("v1 g1 n2 moved=false b"))).toBe(true);
  expect(ws.map((c) => c.closedWith)).toEqual(ws.map(() => null));
}, 120_000);
