// A give that cannot happen leaves the old generation serving everything it holds, and says why
// in a give-aborted (the supervisor fails the reload with that reason): the new generation cannot take every
// connection, or the give's own fds cannot be received at the fd limit. The generation runs as
// the supervisor spawns it; this test stands in for the supervisor and the new generation.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close, createListener } from "../../ffi/index.ts";
import { Channel, channelPair, peerMessageSchema, type PeerMessage } from "../handoff/index.ts";
import { GenerationProcess } from "../supervisor/generation-process.ts";
import { cleanUpAfterEachTest, RawClient } from "../../test/fixtures/harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
cleanUpAfterEachTest();

/** A booted generation 1 of `source`. */
async function booted(source: string): Promise<GenerationProcess> {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-give-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const entry = join(dir, "app.ts");
  writeFileSync(entry, source);
  const g = await GenerationProcess.spawn({ runtimeDir: dir, env: { ...process.env }, onMessage: () => {} });
  cleanups.push(async () => {
    g.kill();
    await g.exited;
  });
  expect(g.boot({ generation: 1, entry, server: {}, health: false, drainTimeoutMs: 5_000, runtimeDir: dir })).toBe(true);
  await g.waitFor("ready", 30_000, "ready");
  return g;
}

test("a new generation that can take fewer connections than are held: nothing moves, the old one keeps serving and accepting, and give-aborted says why", async () => {
  const g = await booted(`export default { fetch: () => new Response(String(process.pid)) };`);
  const { fd, address } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 64 });
  cleanups.push(() => close(fd));
  const listening = g.waitFor("listening", 20_000, "listening");
  expect(g.send({ type: "listen", listeners: [{ address: "127.0.0.1", port: address.port, family: "IPv4" }] }, [fd])).toBe(true);
  await listening;
  const clients = await Promise.all([1, 2, 3].map(() => RawClient.open(address.port)));
  for (const c of clients) expect((await c.get("/before")).body).toBe(String(g.pid));

  const [ours, theirs] = channelPair();
  const aborted = g.waitFor("give-aborted", 30_000, "done handing over");
  expect(g.send({ type: "give", to: 2 }, [theirs.stream, theirs.fds])).toBe(true);
  close(theirs.stream);
  close(theirs.fds);
  const offers: number[] = [];
  // Stand in for a new generation near its fd limit: room for one connection.
  const peer = await Channel.open<PeerMessage, PeerMessage>(ours, peerMessageSchema, "generation 1", {
    message: (m) => {
      if (m.type !== "offer") return;
      offers.push(m.connections);
      peer.send({ type: "capacity", connections: 1, fdLimit: 128 });
    },
    close: () => {},
  });
  cleanups.push(() => peer.close());
  const m = await aborted;
  expect(offers).toEqual([3]);
  expect([m.cause, m.accepting, m.open]).toEqual(["capacity", true, 3]);
  expect(m.reason).toContain("generation 2 can take 1 more connections before it nears its file descriptor limit (128), and generation 1 holds 3");
  expect(m.reason).toContain("nothing was handed over, and generation 1 keeps serving all 3 connections");
  // Every connection is still served here, none was closed, and new ones are accepted again.
  for (const c of clients) expect((await c.get("/after")).body).toBe(String(g.pid));
  expect(clients.map((c) => c.closed)).toEqual([false, false, false]);
  const fresh = await RawClient.open(address.port);
  expect((await fresh.get("/new")).body).toBe(String(g.pid));
  expect(g.alive).toBe(true);
}, 60_000);

test("a give whose fds cannot be received (every fd slot taken) does not end the generation: give-aborted says EMFILE, and a stop still works", async () => {
  // The app takes every free fd slot at import, as a leaking app would.
  const g = await booted(`import { openSync } from "node:fs";
const held: number[] = [];
for (;;) { try { held.push(openSync("/dev/null", "r")); } catch { break; } }
export default { fetch: () => new Response("ok " + held.length) };`);
  // More fds than the generation's spares can make room for.
  const fds = Array.from({ length: 12 }, () => createListener({ hostname: "127.0.0.1", port: 0, backlog: 1 }).fd);
  cleanups.push(() => fds.forEach((fd) => close(fd)));
  const aborted = g.waitFor("give-aborted", 30_000, "done handing over");
  expect(g.send({ type: "give", to: 2 }, fds)).toBe(true);
  const m = await aborted;
  expect(m.cause).toBe("no-channel");
  expect(m.reason).toContain("generation 1 could not receive its channel to generation 2");
  expect(m.reason).toContain("EMFILE");
  expect(m.reason).toContain("keeps serving");
  expect(g.alive).toBe(true);
  const stopped = g.waitFor("stopped", 20_000, "stopped");
  expect(g.send({ type: "stop", timeoutMs: 1_000 })).toBe(true);
  await stopped;
  expect((await g.exited).code).toBe(0);
}, 60_000);
