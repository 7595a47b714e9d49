// WebSockets under the real CLI (`liveframe start`): a Hono app using upgradeWebSocket from
// "liveframe" serves Bun's client and the npm ws client with nothing else configured; a reload
// (stage 1, until WebSockets move) closes every WebSocket with 1012 (service restart) through a
// close handshake, so clients reconnect to the new generation, while HTTP keep-alive
// connections still move and are never closed.
import { expect, test } from "bun:test";
import { REPO, RawClient, servedBy, startServer, cleanUpAfterEachTest, waitGone } from "./fixtures/harness.ts";
import { RealWebSocket } from "../src/ws/testing/real-ws.ts";

cleanUpAfterEachTest();

const WS_APP = `
import { Hono } from "hono";
import { upgradeWebSocket, generation } from "${REPO}/src/index.ts";
const app = new Hono();
const me = () => \`\${generation.number} \${process.pid}\`;
app.get("/ws", upgradeWebSocket(() => ({
  onMessage(evt, ws) { ws.send(\`\${generation.number}:\${evt.data}\`); },
})));
app.get("*", (c) => c.text(\`\${me()} \${c.req.path}\`));
export default app;
`;

/** A client (Bun's or ws) that records replies and its close code. */
interface Client {
  send(s: string): void;
  next(): Promise<string>;
  closed: Promise<{ code: number; reason: string; clean: boolean }>;
}

function bunClient(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string; clean: boolean }>();
  ws.onmessage = (e) => (waiters.length ? waiters.shift()!(String(e.data)) : queue.push(String(e.data)));
  ws.onclose = (e) => closed.resolve({ code: e.code, reason: e.reason, clean: e.wasClean });
  const opened = Promise.withResolvers<Client>();
  const client: Client = {
    send: (s) => ws.send(s),
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
    closed: closed.promise,
  };
  ws.onopen = () => opened.resolve(client);
  ws.onerror = () => opened.reject(new Error("Bun's WebSocket client could not connect"));
  return opened.promise;
}

function wsClient(port: number): Promise<Client> {
  const ws = new RealWebSocket(`ws://127.0.0.1:${port}/ws`);
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string; clean: boolean }>();
  ws.on("message", (d: Buffer) => (waiters.length ? waiters.shift()!(d.toString()) : queue.push(d.toString())));
  // ws reports a clean close as close(code) after both close frames; a cut connection is 1006.
  ws.on("close", (code: number, reason: Buffer) => closed.resolve({ code, reason: reason.toString(), clean: code !== 1006 }));
  ws.on("error", () => {});
  const opened = Promise.withResolvers<Client>();
  ws.on("open", () =>
    opened.resolve({
      send: (s) => ws.send(s),
      next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
      closed: closed.promise,
    }),
  );
  ws.on("unexpected-response", () => opened.reject(new Error("ws could not upgrade")));
  return opened.promise;
}

test("an upgradeWebSocket app under liveframe start: echo from both clients; a reload closes each WebSocket with 1012, keep-alive HTTP connections move", async () => {
  const server = await startServer({ source: WS_APP });
  const clients = [...(await Promise.all(Array.from({ length: 5 }, () => bunClient(server.port)))), ...(await Promise.all(Array.from({ length: 5 }, () => wsClient(server.port))))];
  const replies = await Promise.all(
    clients.map((c, i) => {
      c.send(`hi${i}`);
      return c.next();
    }),
  );
  expect(replies).toEqual(clients.map((_, i) => `1:hi${i}`));
  const http = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(server.port)));
  for (const c of http) expect(servedBy((await c.get("/before")).body).generation).toBe(1);

  const r = await server.reload();
  expect(r.code).toBe(0);
  // Every WebSocket: a close handshake with 1012 (service restart), seen by the client.
  const closes = await Promise.all(clients.map((c) => c.closed));
  expect(closes).toEqual(clients.map(() => ({ code: 1012, reason: "service restart", clean: true })));
  // Keep-alive HTTP connections moved: served by generation 2 on the same connection.
  for (const c of http) {
    expect(servedBy((await c.get("/after")).body).generation).toBe(2);
    expect({ closed: c.closed, error: c.error }).toEqual({ closed: false, error: null });
  }
  // Clients reconnect to the new generation.
  const again = [await bunClient(server.port), await wsClient(server.port)];
  again[0]!.send("back");
  again[1]!.send("back");
  expect(await Promise.all(again.map((c) => c.next()))).toEqual(["2:back", "2:back"]);
  // The old generation finishes its drain and exits: the closed WebSockets did not hold it open
  // (its drain timeout, 30 s by default, is far longer than this wait).
  const gen1 = Number(/generation 1 pid (\d+)/.exec(server.log())?.[1]);
  expect(gen1).toBeGreaterThan(0);
  expect(await waitGone(gen1, 15_000)).toBe(true);
}, 120_000);
