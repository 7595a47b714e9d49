// The control socket and signals: only our uid (or root) gets an answer; hostile or
// malformed requests are dropped and change nothing; one reload at a time; SIGHUP reloads;
// stop lets in-flight requests finish.
import { expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { APP_SOURCE, cleanUpAfterEachTest, oneShot, RawClient, run, startServer, type Server } from "./fixtures/harness.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { reachableBun } from "./support/other-uid.ts";

let server: Server | null = null;
cleanUpAfterEachTest();
const cleanups = cleanupAfterEach();

/** Connects to the control socket as `uid`, sends `line`, reports how the connection ended. */
async function controlAs(uid: number, socketPath: string, line: string): Promise<{ how: string; got?: string }> {
  const code = `
    let got = "";
    const done = Promise.withResolvers();
    try {
      const s = await Bun.connect({ unix: process.env.SOCK, socket: {
        data(_s, d) { got += d; }, close() { done.resolve("closed"); }, error(_s, e) { done.resolve("error " + e.code); } } });
      s.write(process.env.LINE);
      const how = await Promise.race([done.promise, Bun.sleep(3000).then(() => "still open")]);
      console.log(JSON.stringify({ how, got }));
    } catch (e) { console.log(JSON.stringify({ how: "connect failed " + e.code })); }
    process.exit(0);`;
  // A bun that uid can execute wherever this checkout is (support/other-uid.ts).
  const p = Bun.spawn([uid === 0 ? process.execPath : reachableBun(cleanups).bun, "-e", code], {
    uid,
    gid: uid,
    env: { SOCK: socketPath, LINE: line, HOME: "/tmp", PATH: process.env.PATH ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  } as never);
  const out = await new Response(p.stdout as ReadableStream).text();
  await p.exited;
  return JSON.parse(out.trim().split("\n").pop()!);
}

test("another uid cannot reach the control socket, and where it can reach it, it is refused and disconnected without an answer", async () => {
  server = await startServer();
  const sock = join(server.runtimeDir, "control.sock");
  const stop = JSON.stringify({ cmd: "stop" }) + "\n";
  // As created: runtime dir 0700, socket 0600.
  expect((await controlAs(65534, sock, stop)).how).toBe("connect failed EACCES");
  // Make it reachable on purpose: SO_PEERCRED still refuses the peer.
  chmodSync(server.dir, 0o711);
  chmodSync(server.runtimeDir, 0o711);
  chmodSync(sock, 0o666);
  for (const line of [stop, JSON.stringify({ cmd: "reload", timeoutMs: 5000 }) + "\n", JSON.stringify({ cmd: "status" }) + "\n"]) {
    const r = await controlAs(65534, sock, line);
    // Dropped at once (terminate): the peer sees a close or a reset, never an answer, never an open line.
    expect(r.how).toMatch(/^(closed|connect failed ECONNRESET|error ECONNRESET)$/);
    expect(r.got ?? "").toBe("");
  }
  expect(server.log()).toContain("uid 65534 refused");
  const status = await server.status();
  expect(status.generation).toBe(1);
  expect(status.reloads.length).toBe(0);
  expect("body" in (await oneShot(server.port))).toBe(true);
}, 120_000);

test("malformed and hostile control requests are logged and dropped; the server carries on", async () => {
  server = await startServer();
  const sock = join(server.runtimeDir, "control.sock");
  const bad = [
    "hello\n",
    "{not json\n",
    JSON.stringify({ cmd: "reload", timeoutMs: -5 }) + "\n",
    JSON.stringify({ cmd: "rm -rf /" }) + "\n",
    JSON.stringify({ cmd: "status" }) + "\n" + JSON.stringify({ cmd: "stop" }) + "\n",
    "x".repeat(10_000),
  ];
  for (const line of bad) {
    const r = await controlAs(0, sock, line);
    expect(r.how).toBe("closed");
    // A status followed by a stop in one connection: only the first request is read at all.
    if (line.startsWith('{"cmd":"status"}')) expect(r.got).toContain('"ok":true');
    else expect(r.got).toBe("");
  }
  expect(server.log()).toContain("malformed request");
  const status = await server.status();
  expect(status.generation).toBe(1);
  expect(status.supervisorPid).toBe(server.supervisorPid);
}, 120_000);

test("one reload at a time: a second reload while one runs is refused with a clear message", async () => {
  server = await startServer();
  server.writeApp(`${APP_SOURCE}\nexport async function start() { await Bun.sleep(1500); }\n`);
  const first = server.reload();
  await Bun.sleep(400);
  const second = await server.reload();
  expect(second.code).toBe(1);
  expect(second.stdout + second.stderr).toContain("a reload is already in progress (generation 1 → 2");
  expect((await first).code).toBe(0);
  expect((await server.status()).generation).toBe(2);
}, 120_000);

test("SIGHUP reloads; SIGTERM stops gracefully", async () => {
  server = await startServer();
  process.kill(server.supervisorPid, "SIGHUP");
  let gen = 1;
  for (let i = 0; i < 200 && gen !== 2; i++) {
    await Bun.sleep(50);
    gen = (await server.status()).generation;
  }
  expect(gen).toBe(2);
  expect(server.log()).toContain("SIGHUP");
  process.kill(server.supervisorPid, "SIGTERM");
  expect(await server.proc.exited).toBe(0);
}, 120_000);

test("stop under load: requests in flight finish, then the supervisor exits 0", async () => {
  server = await startServer();
  const conns = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(server!.port)));
  const idle = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(server!.port)));
  for (const c of idle) expect((await c.get("/idle")).status).toBe(200);
  const inFlight = conns.map((c) => c.get("/slow?ms=1000"));
  await Bun.sleep(200);
  const stop = await server.stop();
  expect(stop.code).toBe(0);
  const replies = await Promise.all(inFlight);
  for (const r of replies) expect(r.body).toMatch(/^1 \d+ slow$/);
  expect(await server.proc.exited).toBe(0);
  expect(await oneShot(server.port)).toEqual({ error: "ECONNREFUSED" });
}, 120_000);

test("reload without --timeout uses the server's ready timeout (start --timeout), not a default of its own", async () => {
  server = await startServer({ flags: ["--timeout", "2"] });
  server.writeApp(`${APP_SOURCE}\nexport async function start() { await new Promise(() => {}); }\n`);
  const r = await run(["reload", "--runtime-dir", server.runtimeDir], server.dir);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/generation 2 \(pid \d+\) was not ready within 2 s/);
  expect((await server.status()).generation).toBe(1);
}, 120_000);
