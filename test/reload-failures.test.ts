// Failed deploys and crashes: a new generation that cannot boot is killed and the reload
// names the cause while the old generation keeps answering; a killed generation is replaced
// while the supervisor's listener keeps queueing connections.
import { expect, test } from "bun:test";
import { BAD_APPS } from "./fixtures/bad-apps.ts";
import { alive, APP_SOURCE, childPids, oneShot, RawClient, run, servedBy, startServer, waitForStandby, type Server, cleanUpAfterEachTest, waitUntilServedBy } from "./fixtures/harness.ts";

let server: Server | null = null;
cleanUpAfterEachTest();

test("failed deploys (throw, syntax error, exit, not an app, never ready with --timeout 3) exit non-zero naming the cause; the old generation answers throughout; a good deploy then works", async () => {
  server = await startServer();
  const c = await RawClient.open(server.port);
  const gen1 = servedBy((await c.get("/start")).body);
  const cases: [keyof typeof BAD_APPS, RegExp, number][] = [
    ["throws", /database unreachable at import[\s\S]*app\.ts:2/, 30],
    ["syntax", /syntax error[\s\S]*app\.ts:3:\d+/, 30],
    ["exits", /exited with code 3[\s\S]*config missing/, 30],
    ["notAnApp", /does not default-export an app/, 30],
    ["neverReady", /not ready within 3 s/, 3],
  ];
  for (const [kind, cause, timeoutS] of cases) {
    server.writeApp(BAD_APPS[kind]);
    const r = await server.reload(timeoutS);
    expect({ kind, code: r.code }).toEqual({ kind, code: 1 });
    expect(r.stdout + r.stderr).toMatch(cause);
    // The old generation never noticed: same connection, same generation, and new connections too.
    const again = servedBy((await c.get(`/after-${kind}`)).body);
    expect(again).toEqual(gen1);
    const fresh = await oneShot(server.port, "/fresh");
    expect("body" in fresh && servedBy(fresh.body)).toEqual(gen1);
  }
  expect(c.closed).toBe(false);
  // Failed generations are gone: the supervisor's children are generation 1 and a fresh standby.
  const standbyPid = await waitForStandby(server);
  const expected = [gen1.pid, standbyPid].sort();
  let children = childPids(server.supervisorPid).sort();
  for (let i = 0; i < 100 && JSON.stringify(children) !== JSON.stringify(expected); i++) {
    await Bun.sleep(20);
    children = childPids(server.supervisorPid).sort();
  }
  expect(children).toEqual(expected);
  server.writeApp(APP_SOURCE);
  const ok = await server.reload();
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain("generation 1 → 2");
  expect(servedBy((await c.get("/fixed")).body).generation).toBe(2);
  const status = await server.status();
  expect(status.generation).toBe(2);
  expect(status.reloads.length).toBe(6);
}, 120_000);

test("kill -9 of the serving generation under a stream of new connections: none refused, a new generation serves within 5 s", async () => {
  server = await startServer();
  const port = server.port;
  const before = await server.status();
  let running = true;
  const results: string[] = [];
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      const r = await oneShot(port, "/new-connection");
      results.push("body" in r ? (r.status === 200 ? `ok ${servedBy(r.body).generation}` : `status ${r.status}`) : r.error);
    }
  });
  await Bun.sleep(300);
  const killedAt = performance.now();
  process.kill(before.generationPid, "SIGKILL");
  let servedByNew = 0;
  while (performance.now() - killedAt < 5000 && servedByNew === 0) {
    servedByNew = results.filter((r) => r === "ok 2").length;
    await Bun.sleep(20);
  }
  const recoveredMs = performance.now() - killedAt;
  await Bun.sleep(300);
  running = false;
  await Promise.all(loops);
  expect(servedByNew).toBeGreaterThan(0);
  expect(recoveredMs).toBeLessThan(5000);
  expect(results.filter((r) => r === "ECONNREFUSED")).toEqual([]);
  // Only requests the dead process had already accepted can fail (reset): bounded by the 4 loops.
  expect(results.filter((r) => !r.startsWith("ok")).length).toBeLessThanOrEqual(4);
  const after = await server.status();
  expect(after.supervisorPid).toBe(before.supervisorPid);
  expect(after.generation).toBe(2);
  expect(server.log()).toMatch(/exited by SIGKILL|killed by SIGKILL|SIGKILL/);
}, 120_000);

test("a supervisor killed with -9 takes its generations with it; a second supervisor on a live runtime dir is refused, on a stale one it starts", async () => {
  server = await startServer();
  const { runtimeDir, port } = server;
  const gen = (await server.status()).generationPid;
  // Same runtime dir while the first runs: refused, clearly.
  const refused = await run(["start", server.entry, "--port", "0", "--host", "127.0.0.1", "--runtime-dir", runtimeDir], server.dir);
  expect(refused.code).not.toBe(0);
  expect(refused.stdout + refused.stderr).toContain("another liveframe supervisor is already running");
  expect("body" in (await oneShot(port))).toBe(true);
  // kill -9 the supervisor: its generation dies too (PR_SET_PDEATHSIG), nothing holds the port.
  process.kill(server.supervisorPid, "SIGKILL");
  for (let i = 0; i < 100 && alive(gen); i++) await Bun.sleep(20);
  expect(alive(gen)).toBe(false);
  expect(await oneShot(port)).toEqual({ error: "ECONNREFUSED" });
  // The stale control socket does not block the next supervisor.
  const restarted = Bun.spawn(
    [process.execPath, new URL("../bin/liveframe.ts", import.meta.url).pathname, "start", server.entry, "--port", "0", "--host", "127.0.0.1", "--runtime-dir", runtimeDir],
    { cwd: server.dir, stdout: "pipe", stderr: "pipe" },
  );
  try {
    let out = "";
    const reader = (restarted.stdout as ReadableStream<Uint8Array>).getReader();
    while (!out.includes("listening on")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    expect(out).toContain("listening on");
  } finally {
    restarted.kill("SIGTERM");
    await restarted.exited;
  }
}, 120_000);

test("a crash loop backs off and says so; connections made meanwhile wait in the backlog and are answered once the app boots again", async () => {
  server = await startServer();
  const { generationPid } = await server.status();
  server.writeApp(BAD_APPS.exits);
  process.kill(generationPid, "SIGKILL");
  for (let i = 0; i < 300 && !/crash loop/.test(server.log()); i++) await Bun.sleep(20);
  expect(server.log()).toMatch(/crash loop: [\s\S]*backing off/);
  // No generation serves now, yet the supervisor's listener accepts into its backlog.
  const waiting = await RawClient.open(server.port);
  const reply = waiting.get("/queued");
  server.writeApp(APP_SOURCE);
  const r = await reply;
  expect(r.status).toBe(200);
  expect(servedBy(r.body).generation).toBe(2);
  expect(waiting.closed).toBe(false);
  expect((await server.status()).supervisorPid).toBe(server.supervisorPid);
}, 120_000);

/** Starts a reload that cannot finish (a POST body is half sent) and waits until generation 2 accepts. */
async function reloadHeldOpen(s: Server) {
  const held = await RawClient.open(s.port);
  expect(servedBy((await held.get("/hold")).body).generation).toBe(1);
  const posted = held.send(`POST /upload HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nhalf`)[0]!;
  posted.catch(() => {});
  await Bun.sleep(100);
  const reloading = s.reload();
  expect(await waitUntilServedBy(s.port, 2)).toBe(true);
  return { held, posted, reloading };
}

test("the old generation killed while it hands over: the new one keeps serving what moved, and the reload completes", async () => {
  server = await startServer();
  const idle = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(server!.port)));
  for (const c of idle) expect(servedBy((await c.get("/idle")).body).generation).toBe(1);
  const old = await server.status();
  const { posted, reloading } = await reloadHeldOpen(server);
  // Kill the old one only once the 4 idle connections have moved (the new one says so).
  let adopted = 0;
  for (let i = 0; i < 400 && adopted < 4; i++) {
    const r = await oneShot(server.port, "/adopted");
    if ("body" in r) adopted = Number(r.body.split(" ")[2]);
    if (adopted < 4) await Bun.sleep(25);
  }
  expect(adopted).toBe(4);
  process.kill(old.generationPid, "SIGKILL");
  const r = await reloading;
  expect(r.code).toBe(0);
  // The request the dead process was reading is lost with it; everything that had moved lives on.
  expect(await posted.then(() => "answered", () => "lost")).toBe("lost");
  for (const c of idle) expect(servedBy((await c.get("/after")).body).generation).toBe(2);
  const status = await server.status();
  expect(status.generation).toBe(2);
  expect(status.restarts).toBe(0);
}, 120_000);

test("the new generation killed while it takes over: the old one finishes its request and never closes its connection because its peer died", async () => {
  server = await startServer();
  const { held, posted, reloading } = await reloadHeldOpen(server);
  const next = await server.status();
  expect(next.generation).toBe(2);
  process.kill(next.generationPid, "SIGKILL");
  await Bun.sleep(200);
  held.socket.write("x".repeat(96));
  // The old generation still owns this request: it answers it.
  expect((await posted).body).toMatch(/^1 \d+ posted 100$/);
  const r = await reloading;
  // The kill lands after the reload returned (generation 2 served and had taken the idle
  // connections: a crash restart follows) or during it (the reload fails; generation 1 serves again).
  if (r.code !== 0) expect(r.stderr + r.stdout).toMatch(/generation 2 \(pid \d+\) was killed by SIGKILL while taking over/);
  const serving = r.code === 0 ? 3 : 1;
  expect(await waitUntilServedBy(server.port, serving)).toBe(true);
  // The held connection lives on: its next request is answered by the generation serving now
  // (generation 1 hands it to the replacement as soon as it is idle and one serves).
  let after = servedBy((await held.get("/after")).body).generation;
  for (let i = 0; i < 200 && after !== serving; i++) {
    await Bun.sleep(25);
    after = servedBy((await held.get("/after")).body).generation;
  }
  expect(after).toBe(serving);
  expect([held.closed, held.error]).toEqual([false, null]);
  expect((await server.status()).supervisorPid).toBe(server.supervisorPid);
}, 120_000);
