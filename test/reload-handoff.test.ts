// Reloads through the real CLI with real clients: keep-alive connections move between
// generations and are never closed; a request in flight finishes in the old generation and
// its connection moves afterwards, bytes already read included.
import { expect, test } from "bun:test";
import { oneShot, RawClient, servedBy, startServer, type Server, cleanUpAfterEachTest, waitUntilServedBy } from "./fixtures/harness.ts";

let server: Server | null = null;
cleanUpAfterEachTest();

async function open(port: number, n: number): Promise<RawClient[]> {
  const out = await Promise.all(Array.from({ length: n }, () => RawClient.open(port)));
  return out;
}

test("32 keep-alive connections held across 8 reloads are never closed and each is served by all 9 generations", async () => {
  server = await startServer();
  const conns = await open(server.port, 32);
  const seen = conns.map(() => new Set<number>());
  for (let round = 0; round <= 8; round++) {
    const replies = await Promise.all(conns.map((c, i) => c.get(`/round-${round}-conn-${i}`)));
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.endsWith(`/round-${round}-conn-${i}`)).toBe(true);
      seen[i]!.add(servedBy(r.body).generation);
    });
    if (round < 8) {
      const r = await server.reload();
      expect(r.stderr + r.stdout).toContain(`generation ${round + 1} → ${round + 2}`);
      expect(r.stdout).toContain("32 connections handed over");
      expect(r.code).toBe(0);
    }
  }
  for (const [i, c] of conns.entries()) {
    expect({ conn: i, closed: c.closed, error: c.error }).toEqual({ conn: i, closed: false, error: null });
    expect([...seen[i]!].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }
  let status = await server.status();
  expect(status.supervisorPid).toBe(server.supervisorPid);
  expect(status.generation).toBe(9);
  expect(status.reloads.length).toBe(8);
  // Generations report their counts every 500 ms: the 32 moved connections show up in status.
  for (let i = 0; i < 40 && status.connections !== 32; i++) {
    await Bun.sleep(100);
    status = await server.status();
  }
  expect(status.connections).toBe(32);
}, 120_000);

test("a POST whose body straddles a reload completes in the old generation in the background; its connection then moves late", async () => {
  server = await startServer();
  const [c] = await open(server.port, 1);
  expect(servedBy((await c!.get("/before")).body).generation).toBe(1);
  const body = "x".repeat(20_000);
  // Head and half the body now; the rest once the new generation serves.
  const posted = c!.send(`POST /upload HTTP/1.1\r\nhost: test\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 10_000)}`)[0]!;
  await Bun.sleep(100);
  // The reload returns once the idle connections moved (a /probe connection generation 1
  // accepted may be one), while the POST still waits for its body: the rest is sent only after
  // the reload returned, so the POST is in flight at the handover on any machine.
  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\d+ connections? handed over, 1 request still running in generation 1/);
  expect(await waitUntilServedBy(server.port, 2)).toBe(true);
  c!.socket.write(body.slice(10_000));
  const reply = await posted;
  expect(reply.status).toBe(200);
  // It finishes in generation 1.
  expect(reply.body).toMatch(/^1 \d+ posted 20000$/);
  const after = await c!.get("/after");
  expect(servedBy(after.body).generation).toBe(2);
  expect(c!.closed).toBe(false);
  // Its connection moved as soon as the POST was answered: generation 1 says so when it is done.
  for (let i = 0; i < 200 && !server.log().includes("generation 1 drained"); i++) await Bun.sleep(25);
  expect(server.log()).toContain("generation 1 drained: 1 request completed, 0 cut, 1 connection handed over late");
}, 120_000);

test("pipelined requests across a reload: the busy one finishes in the old generation, the queued ones are answered by the new one", async () => {
  server = await startServer();
  const [c] = await open(server.port, 1);
  expect(servedBy((await c!.get("/warm")).body).generation).toBe(1);
  const req = (path: string) => `GET ${path} HTTP/1.1\r\nhost: test\r\n\r\n`;
  // One write: a slow request, then two more that the old generation reads but must not answer.
  const replies = c!.send(req("/slow?ms=1500") + req("/second") + req("/third"), 3);
  await Bun.sleep(200);
  const r = await server.reload();
  expect(r.code).toBe(0);
  const [first, second, third] = await Promise.all(replies);
  expect(first!.body).toMatch(/^1 \d+ slow$/);
  expect(second!.body.endsWith("/second")).toBe(true);
  expect(third!.body.endsWith("/third")).toBe(true);
  // Both were read by the old generation along with the first: they moved as buffered bytes.
  expect(servedBy(second!.body).generation).toBe(2);
  expect(servedBy(third!.body).generation).toBe(2);
  expect(servedBy((await c!.get("/after")).body).generation).toBe(2);
  expect(c!.closed).toBe(false);
}, 120_000);

test("reloads under concurrent keep-alive and connection-per-request load: 0 failed, 0 reset, 0 closed", async () => {
  server = await startServer();
  const port = server.port;
  const conns = await open(port, 16);
  let running = true;
  const tally = { ok: 0, non200: 0, failed: 0, oneShotOk: 0, oneShotFailed: [] as string[] };
  const keepAlive = conns.map(async (c) => {
    while (running) {
      try {
        const r = await c.get("/ka");
        if (r.status === 200) tally.ok++;
        else tally.non200++;
      } catch {
        tally.failed++;
        return;
      }
    }
  });
  const perRequest = Array.from({ length: 4 }, async () => {
    while (running) {
      const r = await oneShot(port, "/once");
      if ("body" in r && r.status === 200) tally.oneShotOk++;
      else tally.oneShotFailed.push("error" in r ? r.error : `status ${r.status}`);
    }
  });
  const outcomes: number[] = [];
  for (let i = 0; i < 5; i++) {
    await Bun.sleep(150);
    outcomes.push((await server.reload()).code);
  }
  await Bun.sleep(150);
  running = false;
  await Promise.all([...keepAlive, ...perRequest]);
  expect(outcomes).toEqual([0, 0, 0, 0, 0]);
  expect({ non200: tally.non200, failed: tally.failed, oneShotFailed: tally.oneShotFailed }).toEqual({
    non200: 0,
    failed: 0,
    oneShotFailed: [],
  });
  expect(conns.filter((c) => c.closed || c.error).length).toBe(0);
  expect(tally.ok).toBeGreaterThan(50);
  expect(tally.oneShotOk).toBeGreaterThan(10);
  expect((await server.status()).generation).toBe(6);
}, 120_000);

test("with --health, GET /__liveframe/health answers before the app: status, generation, pid, adopted connections", async () => {
  server = await startServer({ flags: ["--health"] });
  const [c] = await open(server.port, 1);
  const before = JSON.parse((await c!.get("/__liveframe/health")).body);
  expect(before).toMatchObject({ status: "ok", generation: 1, adoptedConnections: 0 });
  expect((await c!.get("/not-health")).body).toMatch(/^1 \d+ \/not-health$/);
  expect((await server.reload()).code).toBe(0);
  const after = JSON.parse((await c!.get("/__liveframe/health")).body);
  expect(after).toMatchObject({ status: "ok", generation: 2, adoptedConnections: 1 });
  expect(after.pid).not.toBe(before.pid);
}, 120_000);

test("300 keep-alive connections move in one reload (two fd batches: 253 + 47)", async () => {
  server = await startServer();
  const conns = await open(server.port, 300);
  for (const r of await Promise.all(conns.map((c) => c.get("/one")))) expect(servedBy(r.body).generation).toBe(1);
  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("300 connections handed over");
  for (const r2 of await Promise.all(conns.map((c) => c.get("/two")))) expect(servedBy(r2.body).generation).toBe(2);
  expect(conns.filter((c) => c.closed).length).toBe(0);
}, 120_000);

test("a response still streaming at the drain timeout is cut there, after the reload returned; the log counts it as cut, not completed", async () => {
  server = await startServer({ flags: ["--drain-timeout", "1"] });
  const [streaming, idle] = await open(server.port, 2);
  expect(servedBy((await idle!.get("/idle")).body).generation).toBe(1);
  let received = "";
  streaming!.socket.on("data", (d: Buffer) => (received += d.toString()));
  streaming!.socket.write("GET /stream?ms=20000 HTTP/1.1\r\nhost: test\r\n\r\n");
  for (let i = 0; i < 400 && !received.includes("tick"); i++) await Bun.sleep(25);
  const r = await server.reload();
  // Returned while the stream still runs in generation 1.
  expect(streaming!.closed).toBe(false);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("1 connection handed over, 1 request still running in generation 1");
  for (let i = 0; i < 400 && !streaming!.closed; i++) await Bun.sleep(25);
  expect(streaming!.closed).toBe(true);
  expect(received).toContain("1 ");
  for (let i = 0; i < 400 && !server.log().includes("generation 1 drained"); i++) await Bun.sleep(25);
  expect(server.log()).toContain("generation 1 drained: 0 requests completed, 1 cut, 0 connections handed over late");
  expect(servedBy((await idle!.get("/after")).body).generation).toBe(2);
  expect(idle!.closed).toBe(false);
}, 120_000);

test("a request head half received when the reload happens moves with its bytes and is answered by the new generation", async () => {
  server = await startServer();
  const [c] = await open(server.port, 1);
  expect(servedBy((await c!.get("/first")).body).generation).toBe(1);
  const reply = c!.send("GET /par")[0]!;
  await Bun.sleep(100);
  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("1 connection handed over");
  c!.socket.write("tial HTTP/1.1\r\nhost: test\r\n\r\n");
  const body = (await reply).body;
  expect(body).toMatch(/^2 \d+ \/partial$/);
  expect(c!.closed).toBe(false);
}, 120_000);
