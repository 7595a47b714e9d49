// A reload at the file descriptor limit, through the real CLI: under `ulimit -n 128` with 150
// keep-alive clients, either every connection the old generation holds moves (each client's
// next request is answered, none is closed) or the reload fails with the cause and the old
// generation still answers every one of them. Meanwhile no generation spins on EMFILE.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { APP_SOURCE, childPids, cleanUpAfterEachTest, RawClient, servedBy, startServer, type Reply, type Server } from "./fixtures/harness.ts";

const FD_LIMIT = 128;
/** More clients than one process can hold under FD_LIMIT: the rest wait in the listen backlog. */
const CLIENTS = 150;
/** /proc/PID/stat counts CPU time in clock ticks of 1/100 s (USER_HZ on Linux). */
const TICKS_PER_SECOND = 100;
cleanUpAfterEachTest();

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Share of one core `pid` used over `ms` (CPU time, not wall-clock latency). */
async function cpuShare(pid: number, ms: number): Promise<number> {
  const before = cpuTicks(pid);
  const t0 = performance.now();
  await Bun.sleep(ms);
  return (cpuTicks(pid) - before) / TICKS_PER_SECOND / ((performance.now() - t0) / 1000);
}

/** Resolves with the reply, or with the error that ended the connection; never rejects. */
const settle = (p: Promise<Reply>) => p.then((r) => r, (e: Error) => ({ error: e.message }));

/** Opens CLIENTS keep-alive clients and waits until the generation holds what it can; returns them and who was answered. */
async function saturate(server: Server): Promise<{ clients: RawClient[]; answered: number[]; pid: number }> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => RawClient.open(server.port)));
  const first = clients.map((c, i) => settle(c.get(`/first-${i}`)));
  // The generation holds what it can; it says so once it stops accepting (the rest wait in the backlog).
  for (let i = 0; i < 600 && !server.log().includes("not accepting new connections for now"); i++) await Bun.sleep(25);
  expect(server.log()).toContain("not accepting new connections for now");
  const results = new Map<number, Reply | { error: string }>();
  first.forEach((p, i) => void p.then((r) => results.set(i, r)));
  let status = await server.status();
  // Every accepted client is answered; the status report catches up with the count (every 500 ms).
  for (let i = 0; i < 200 && (status.connections === 0 || results.size < status.connections); i++) {
    await Bun.sleep(50);
    status = await server.status();
  }
  const answered: number[] = [];
  for (const [i, r] of results) {
    expect("status" in r ? r.status : r).toBe(200);
    answered.push(i);
  }
  expect(answered.length).toBeGreaterThan(0);
  expect(answered.length).toBeLessThan(CLIENTS);
  return { clients, answered, pid: status.generationPid };
}

/** Each answered client's next request: all answered (200), none of those connections closed; returns the pids that answered. */
async function nextRequests(clients: RawClient[], answered: number[]): Promise<Set<number>> {
  const after = await Promise.all(answered.map((i) => settle(clients[i]!.get(`/after-${i}`))));
  for (const [k, reply] of after.entries()) expect({ client: answered[k], reply: "status" in reply ? reply.status : reply }).toEqual({ client: answered[k]!, reply: 200 });
  for (const i of answered) expect({ client: i, closed: clients[i]!.closed }).toEqual({ client: i, closed: false });
  return new Set(after.map((reply) => servedBy((reply as Reply).body).pid));
}

test(`reload under ulimit -n ${FD_LIMIT} with ${CLIENTS} keep-alive clients: every held connection moves, or the reload fails and the old generation keeps them all; no EMFILE spin`, async () => {
  const server = await startServer({ fdLimit: FD_LIMIT, flags: ["--keep-alive-timeout-ms", "600000"] });
  const { clients, answered, pid: old } = await saturate(server);

  // Saturated and idle, the serving generation must not spin on EMFILE (it did at 100 % of a core).
  const idleShare = await cpuShare(old, 2000);
  expect(idleShare).toBeLessThan(0.5);

  const r = await server.reload();
  const by = await nextRequests(clients, answered);
  if (r.code === 0) {
    // Every connection moved: the new generation answered all of them.
    // At least the answered ones (a client answered just after we looked moved too).
    expect(Number(/(\d+) connections handed over/.exec(r.stdout)?.[1])).toBeGreaterThanOrEqual(answered.length);
    expect(by.has(old)).toBe(false);
    expect(by.size).toBe(1);
  } else {
    // The reload failed with the cause; the old generation answered all of them.
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/file descriptor|EMFILE/);
    expect([...by]).toEqual([old]);
  }
  const serving = (await server.status()).generationPid;
  expect(childPids(server.supervisorPid)).toContain(serving);
  expect(await cpuShare(serving, 2000)).toBeLessThan(0.5);
  console.log(
    `reload at the fd limit: exit ${r.code}; ${answered.length} of ${CLIENTS} clients held; ` +
      `CPU of the saturated generation ${(idleShare * 100).toFixed(1)} % of a core; ${(r.stdout + r.stderr).trim().split("\n").pop()}`,
  );
}, 120_000);

/** The fixture app, but from generation 2 on it holds EXTRA_FDS more fds (a leak, a pool): it cannot take everything generation 1 holds. */
const EXTRA_FDS = 60;
const GREEDY_APP = APP_SOURCE.replace(
  "export default {",
  `import { openSync } from "node:fs";
const held: number[] = [];
if (Number(process.env.LIVEFRAME_GENERATION) >= 2) for (let i = 0; i < ${EXTRA_FDS}; i++) held.push(openSync("/dev/null", "r"));
export default {`,
);

test(`a new generation with fewer free fds than the old one holds connections: the reload fails with the counts, nothing moves, and the old generation keeps answering every client`, async () => {
  const server = await startServer({ fdLimit: FD_LIMIT, source: GREEDY_APP, flags: ["--keep-alive-timeout-ms", "600000"] });
  const { clients, answered, pid: old } = await saturate(server);
  const r = await server.reload();
  expect(r.code).toBe(1);
  const said = r.stderr + r.stdout;
  const m = /file descriptor limit \((\d+)\), and generation 1 holds (\d+): nothing was handed over, and generation 1 keeps serving all (\d+) connections/.exec(said);
  expect(m?.[1]).toBe(String(FD_LIMIT));
  expect(Number(m?.[2])).toBeGreaterThanOrEqual(answered.length);
  expect(m?.[3]).toBe(m?.[2]);
  expect([...(await nextRequests(clients, answered))]).toEqual([old]);
  const status = await server.status();
  expect([status.generation, status.generationPid]).toEqual([1, old]);
  expect(status.reloads.at(-1)?.ok).toBe(false);
  expect(await cpuShare(old, 2000)).toBeLessThan(0.5);
  console.log(`refused reload at the fd limit: ${said.trim().split("\n").pop()}`);
}, 120_000);

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await Bun.sleep(20);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

test(`under ulimit -n ${FD_LIMIT}, a stream running at the reload finishes in the old generation and its connection then moves late to the new one (which filled up from the backlog meanwhile); every other held connection moved at once`, async () => {
  const server = await startServer({ fdLimit: FD_LIMIT, flags: ["--keep-alive-timeout-ms", "600000"] });
  const { clients, answered, pid: old } = await saturate(server);
  const [k, ...others] = answered as [number, ...number[]];
  const sse = clients[k]!;
  // Read this connection's bytes as they come (a stream, then one more reply).
  let raw = "";
  sse.socket.on("data", (d: Buffer) => void (raw += d.toString("latin1")));
  const endFile = join(server.dir, "end-sse");
  sse.socket.write(`GET /sse?until=${encodeURIComponent(endFile)} HTTP/1.1\r\nhost: test\r\n\r\n`);
  await until("two events", () => raw.includes("data: 1\n"));

  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/1 request still running in generation 1/);
  const by = await nextRequests(clients, others);
  expect(by.has(old)).toBe(false);
  expect(by.size).toBe(1);
  expect(sse.closed).toBe(false);
  // Generation 2 takes the clients waiting in the backlog until it nears its limit too (each
  // process logs its first pause), with fds still held for the stream's connection.
  const pauses = () => server.log().split("not accepting new connections for now").length - 1;
  await until("generation 2 to fill up from the backlog", () => pauses() >= 2);

  writeFileSync(endFile, "");
  await until("the stream to end", () => raw.includes("0\r\n\r\n"));
  expect(raw).toMatch(new RegExp(`data: end 1 ${old}\n\n`));
  sse.socket.write("GET /after-stream HTTP/1.1\r\nhost: test\r\n\r\n");
  await until("the reply after the stream", () => /0\r\n\r\nHTTP\/1\.1 200[\s\S]*\r\n\r\n2 \d+ \/after-stream/.test(raw));
  expect(sse.closed).toBe(false);
  await until("generation 1's drained line", () => server.log().includes("generation 1 drained"));
  expect(server.log()).toContain("generation 1 drained: 1 request completed, 0 cut, 1 connection handed over late");
}, 120_000);
