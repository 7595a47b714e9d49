// A chain of 100 generations: every reload hands the same keep-alive connection on, and
// neither the supervisor, the generations nor the standby accumulate file descriptors (/proc/PID/fd).
import { afterEach, expect, test } from "bun:test";
import { sendControl } from "../src/supervisor/client.ts";
import { fdCount, RawClient, servedBy, startServer, type Server } from "./fixtures/harness.ts";

let server: Server | null = null;
let client: RawClient | null = null;
afterEach(async () => {
  client?.close();
  await server?.cleanup();
  server = null;
}, 30_000); // cleanup waits for a graceful stop; the default hook timeout is 5 s

test("100 generations in a chain: the keep-alive connection is served by each, and no fd leaks in the supervisor or the generations", async () => {
  server = await startServer();
  client = await RawClient.open(server.port);
  const measure = async () => {
    let s = await sendControl(server!.runtimeDir, { cmd: "status" });
    // The standby (next generation, pre-started) is counted once it waits: it holds fds too.
    for (let i = 0; i < 300 && s.standbyPid === undefined; i++) {
      await Bun.sleep(50);
      s = await sendControl(server!.runtimeDir, { cmd: "status" });
    }
    expect(s.standbyPid).toBeNumber();
    return { generation: s.generation, supervisor: fdCount(s.supervisorPid), serving: fdCount(s.generationPid), standby: fdCount(s.standbyPid!) };
  };
  let baseline: Awaited<ReturnType<typeof measure>> | null = null;
  for (let i = 1; i <= 100; i++) {
    const outcome = await sendControl(server.runtimeDir, { cmd: "reload", timeoutMs: 30_000 });
    expect({ i, ok: outcome.ok, error: outcome.error }).toEqual({ i, ok: true, error: undefined });
    expect(outcome.connectionsMoved).toBe(1);
    const r = await client.get(`/link-${i}`);
    expect(servedBy(r.body).generation).toBe(i + 1);
    // Let the first few generations settle (lazy module loads, Bun's own fds), then compare.
    if (i === 10) baseline = await measure();
  }
  const end = await measure();
  expect(end.generation).toBe(101);
  expect(client.closed).toBe(false);
  expect(end.supervisor).toBeLessThanOrEqual(baseline!.supervisor);
  expect(end.serving).toBeLessThanOrEqual(baseline!.serving);
  expect(end.standby).toBeLessThanOrEqual(baseline!.standby);
  console.log(`fds at generation 11 → 101: supervisor ${baseline!.supervisor} → ${end.supervisor}, serving generation ${baseline!.serving} → ${end.serving}, standby ${baseline!.standby} → ${end.standby}`);
}, 180_000);
