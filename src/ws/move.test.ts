// Moving live WebSockets between app versions at a message boundary, on real loopback sockets
// with real clients and messages in flight: what a reload will do, minus passing the fd to
// another process (the handoff layer's job). Every message is answered exactly once, nobody sees
// a close, messages sent after a move are answered by the new code, and the value the app
// attached to each WebSocket carries over (a per-connection counter that never restarts).
import { expect, test } from "bun:test";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { Hono } from "hono";
import { upgradeWebSocket, type WebSocketOpenEvent } from "./upgrade.ts";
import { startLoopbackServer } from "./testing/loopback-server.ts";
import { RealWebSocket } from "./testing/real-ws.ts";

const cleanups = cleanupAfterEach();

/** Version `v` of the app: replies "v<v>:<message>:<count>", count carried in the attached value. */
function appVersion(v: number, opens: string[]) {
  const app = new Hono();
  app.get(
    "/ws",
    upgradeWebSocket(() => {
      let count = 0;
      return {
        onOpen(evt, ws) {
          const e = evt as WebSocketOpenEvent;
          if (e.moved) count = (e.attached as { count: number }).count;
          opens.push(`v${v} moved=${e.moved}`);
          ws.raw!.attach({ count });
        },
        async onMessage(evt, ws) {
          count++;
          ws.raw!.attach({ count });
          const reply = `v${v}:${evt.data}:${count}`;
          // Every third reply leaves after an await: a move must wait for it, not lose it.
          if (count % 3 === 0) await Bun.sleep(0);
          ws.send(reply);
        },
      };
    }),
  );
  return app;
}

interface Client {
  send(s: string): void;
  close(): void;
}

test("30 clients (Bun's and ws), 3 messages in flight each, 6 moves: no close, no loss, no duplicate, new code after each move", async () => {
  const opens: string[] = [];
  const server = startLoopbackServer(appVersion(1, opens));
  cleanups.push(() => server.stop());
  let version = 1;
  const CLIENTS = 30;
  const IN_FLIGHT = 3;
  const problems: string[] = [];
  const state = Array.from({ length: CLIENTS }, () => ({ seq: 0, outstanding: new Map<string, number>(), replies: 0, lastCount: 0, running: true }));
  let progress = Promise.withResolvers<void>();
  let wantReplies = 0;
  const clients: Client[] = [];

  const onReply = (i: number, client: Client, text: string) => {
    const st = state[i]!;
    const [ver, msg, count] = text.split(":");
    const sentAt = st.outstanding.get(msg!);
    if (sentAt === undefined) problems.push(`client ${i}: reply to unknown or already answered message ${text}`);
    else if (Number(ver!.slice(1)) < sentAt) problems.push(`client ${i}: ${text} answered by older code than v${sentAt}, current when it was sent`);
    st.outstanding.delete(msg!);
    if (Number(count) !== st.lastCount + 1) problems.push(`client ${i}: count ${count} after ${st.lastCount} (the attached value did not carry over)`);
    st.lastCount = Number(count);
    st.replies++;
    if (st.running) {
      const id = `c${i}-${++st.seq}`;
      st.outstanding.set(id, version);
      client.send(id);
    }
    if (state.every((s) => s.replies >= wantReplies)) progress.resolve();
    if (!st.running && state.every((s) => !s.running && s.outstanding.size === 0)) drained.resolve();
  };
  const drained = Promise.withResolvers<void>();

  await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => {
      const opened = Promise.withResolvers<void>();
      const url = `ws://127.0.0.1:${server.port}/ws`;
      if (i % 3 === 2) {
        const ws = new RealWebSocket(url);
        const client: Client = { send: (s) => ws.send(s), close: () => ws.close(1000) };
        clients[i] = client;
        ws.on("open", () => opened.resolve());
        ws.on("message", (d: Buffer) => onReply(i, client, d.toString()));
        ws.on("close", () => state[i]!.running && problems.push(`client ${i} (ws) saw a close`));
      } else {
        const ws = new WebSocket(url);
        const client: Client = { send: (s) => ws.send(s), close: () => ws.close(1000) };
        clients[i] = client;
        ws.onopen = () => opened.resolve();
        ws.onmessage = (e) => onReply(i, client, String(e.data));
        ws.onclose = () => state[i]!.running && problems.push(`client ${i} (Bun) saw a close`);
      }
      return opened.promise;
    }),
  );
  const kick = () => {
    for (let i = 0; i < CLIENTS; i++)
      for (let k = 0; k < IN_FLIGHT; k++) {
        const id = `c${i}-${++state[i]!.seq}`;
        state[i]!.outstanding.set(id, version);
        clients[i]!.send(id);
      }
  };
  kick();
  for (let move = 1; move <= 6; move++) {
    // Let traffic flow, then move while messages are in flight.
    wantReplies += 5;
    progress = Promise.withResolvers<void>();
    if (!state.every((s) => s.replies >= wantReplies)) await progress.promise;
    // Odd moves wait until every connection holds unparsed bytes, so those must move too.
    const result = await server.moveAll(appVersion(version + 1, opens), { waitForHeldBytes: move % 2 === 1 });
    version++;
    expect(result).toEqual({ moved: CLIENTS, refused: 0 });
  }
  wantReplies += 5;
  progress = Promise.withResolvers<void>();
  if (!state.every((s) => s.replies >= wantReplies)) await progress.promise;
  // Stop sending and wait for every outstanding reply.
  for (const st of state) st.running = false;
  if (state.every((s) => s.outstanding.size === 0)) drained.resolve();
  await drained.promise;
  expect(problems).toEqual([]);
  expect(opens.filter((o) => o.endsWith("moved=true")).length).toBe(CLIENTS * 6);
  expect(opens.filter((o) => o === "v7 moved=true").length).toBe(CLIENTS);
  for (const c of clients) c.close();
}, 30_000); // ~0.3 s when idle; a lost message shows as this timeout

test("a WebSocket the new code does not upgrade is closed with 1012 (service restart)", async () => {
  const opens: string[] = [];
  const server = startLoopbackServer(appVersion(1, opens));
  cleanups.push(() => server.stop());
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
  await new Promise<void>((resolve) => (ws.onopen = () => resolve()));
  const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
  const noRoute = new Hono();
  noRoute.get("/", (c) => c.text("no WebSockets here"));
  expect(await server.moveAll(noRoute)).toEqual({ moved: 0, refused: 1 });
  expect(await closed).toBe(1012);
});
