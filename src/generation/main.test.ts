// The generation process driven by a test standing in for the supervisor (GenerationProcess
// spawns main.ts exactly as the supervisor does). Messages whose handling fails must be
// reported, never kill the process (an unhandled rejection ends a Bun process with code 11).
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close } from "../../ffi/index.ts";
import { Channel, channelPair, peerMessageSchema, type PeerMessage } from "../handoff/index.ts";
import { GenerationProcess } from "../supervisor/generation-process.ts";

const spawned: GenerationProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const g of spawned.splice(0)) {
    g.kill();
    await g.exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A booted generation on a tiny app whose stop hook appends a line to `stops` (slowly). */
async function bootedGeneration(): Promise<{ g: GenerationProcess; stops: string; stray: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-gen-"));
  dirs.push(dir);
  const stops = join(dir, "stops.txt");
  const entry = join(dir, "app.ts");
  writeFileSync(
    entry,
    `import { appendFileSync } from "node:fs";
export default { fetch: () => new Response("ok") };
export async function stop() { appendFileSync(${JSON.stringify(stops)}, "stop\\n"); await Bun.sleep(300); }
`,
  );
  const stray: string[] = [];
  const g = await GenerationProcess.spawn({ runtimeDir: dir, env: { ...process.env }, onMessage: (_g, m) => stray.push(m.type) });
  spawned.push(g);
  expect(g.boot({ generation: 1, entry, server: {}, health: false, drainTimeoutMs: 5_000, runtimeDir: dir })).toBe(true);
  await g.waitFor("ready", 30_000, "ready");
  return { g, stops, stray };
}

test("a take the generation cannot handle (no channel fds) is reported as taken 0 and the generation keeps running", async () => {
  const { g } = await bootedGeneration();
  const taken = g.waitFor("taken", 20_000, "done adopting");
  expect(g.send({ type: "take", from: 1 }, [])).toBe(true);
  expect((await taken).connectionsAdopted).toBe(0);
  await Bun.sleep(300);
  expect(g.alive).toBe(true);
  // Still answers the supervisor: a stop is still carried out gracefully.
  const stopped = g.waitFor("stopped", 20_000, "stopped");
  expect(g.send({ type: "stop", timeoutMs: 1_000 })).toBe(true);
  await stopped;
  expect((await g.exited).code).toBe(0);
}, 60_000);

test("a listen the generation cannot handle (no server yet: before boot) is reported, not a crash", async () => {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-gen-"));
  dirs.push(dir);
  const g = await GenerationProcess.spawn({ runtimeDir: dir, env: { ...process.env }, onMessage: () => {} });
  spawned.push(g);
  const listening = g.waitFor("listening", 20_000, "accepting on the listeners");
  const [a, b] = channelPair();
  expect(g.send({ type: "listen", listeners: [{ address: "127.0.0.1", port: 1, family: "IPv4" }] }, [a.stream])).toBe(true);
  for (const fd of [a.stream, a.fds, b.stream, b.fds]) close(fd);
  await expect(listening).rejects.toThrow(/listen failed: supervisor sent work before boot/);
  await Bun.sleep(300);
  expect(g.alive).toBe(true);
}, 60_000);

test("take reports taken when the old generation's channel breaks before done", async () => {
  const { g } = await bootedGeneration();
  const [ours, theirs] = channelPair();
  const taken = g.waitFor("taken", 20_000, "done adopting");
  expect(g.send({ type: "take", from: 1 }, [theirs.stream, theirs.fds])).toBe(true);
  close(theirs.stream);
  close(theirs.fds);
  await Bun.sleep(200);
  // The old generation goes away without `done`.
  close(ours.stream);
  close(ours.fds);
  expect((await taken).connectionsAdopted).toBe(0);
  expect(g.alive).toBe(true);
}, 60_000);

test("a stop arriving while a give is finishing runs the app's stop hook once", async () => {
  const { g, stops } = await bootedGeneration();
  const [ours, theirs] = channelPair();
  const given = g.waitFor("given", 20_000, "done handing over");
  g.expectingExit = true;
  expect(g.send({ type: "give", to: 2 }, [theirs.stream, theirs.fds])).toBe(true);
  close(theirs.stream);
  close(theirs.fds);
  // Stand in for the new generation: it can take everything offered.
  const peer = await Channel.open<PeerMessage, PeerMessage>(ours, peerMessageSchema, "generation 1", {
    message: (m) => {
      if (m.type === "offer") peer.send({ type: "capacity", connections: m.connections, fdLimit: 1024 });
    },
    close: () => {},
  });
  // Room was granted for everything (nothing here): the give goes ahead and ends with given.
  expect((await given).connectionsMoved).toBe(0);
  // The stop hook now runs (300 ms); a stop meanwhile must not run it again.
  for (let i = 0; i < 100 && !existsSync(stops); i++) await Bun.sleep(10);
  g.send({ type: "stop", timeoutMs: 1_000 });
  expect((await g.exited).code).toBe(0);
  expect(readFileSync(stops, "utf8")).toBe("stop\n");
  peer.close();
}, 60_000);
