// At the file descriptor limit the server stops accepting instead of letting Bun's accept loop
// spin on EMFILE, the kernel queues the rest in the backlog, and accepting resumes as
// connections close: every client is answered in the end. The server runs in a child process
// started under `ulimit -n 64`, so this test process keeps its own limit. Its keep-alive timeout is
// long, so only clients leaving (not the server closing idle connections) frees fds.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";

const HTTP = new URL("./index.ts", import.meta.url).pathname;
const FD_LIMIT = 64;
/** More clients than a process with FD_LIMIT fds can hold at once. */
const CLIENTS = 100;
/** /proc/PID/stat counts CPU time in clock ticks of 1/100 s (USER_HZ on Linux). */
const TICKS_PER_SECOND = 100;
const cleanups = cleanupAfterEach();

/** CPU time (user + system) the process has used, in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

interface Client {
  socket: Socket;
  answered: number;
  closed: boolean;
}

function startServer() {
  const code = `const { serve } = await import(${JSON.stringify(HTTP)});
    const s = serve({ fetch: (r) => new Response("ok " + new URL(r.url).pathname) }, { port: 0, hostname: "127.0.0.1", keepAliveTimeoutMs: 600000 });
    console.log("port " + s.port);
    setInterval(() => {}, 1 << 30);`;
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${FD_LIMIT} && exec "$0" -e "$1"`, process.execPath, code], { stdout: "pipe", stderr: "pipe" });
  cleanups.push(async () => {
    proc.kill(9);
    await proc.exited;
  });
  let out = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += dec.decode(chunk, { stream: true });
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return { proc, output: () => out };
}

async function until(what: string, cond: () => boolean, output: () => string): Promise<void> {
  for (let i = 0; i < 1500 && !cond(); i++) await Bun.sleep(20);
  if (!cond()) throw new Error(`timed out waiting for ${what}; server output:\n${output()}`);
}

test("at the fd limit the server pauses accepting (no CPU spin), the backlog holds the rest, and every client is answered as others leave", async () => {
  const { proc, output } = startServer();
  await until("the server to listen", () => /port \d+/.test(output()), output);
  const port = Number(/port (\d+)/.exec(output())![1]);
  const clients: Client[] = [];
  cleanups.push(() => {
    for (const c of clients) c.socket.destroy();
  });
  for (let i = 0; i < CLIENTS; i++) {
    const c: Client = { socket: connect(port, "127.0.0.1"), answered: 0, closed: false };
    c.socket.on("data", () => c.answered++);
    c.socket.on("error", () => {});
    c.socket.on("close", () => (c.closed = true));
    c.socket.write(`GET /c${i} HTTP/1.1\r\nhost: t\r\n\r\n`);
    clients.push(c);
  }
  await until("the server to pause accepting", () => output().includes("not accepting new connections for now"), output);
  const served = () => clients.filter((c) => c.answered > 0);
  await until("the accepted clients to be answered", () => served().length > 0, output);
  const heldAtOnce = served().length;
  expect(heldAtOnce).toBeGreaterThan(0);
  expect(heldAtOnce).toBeLessThan(CLIENTS);
  expect(clients.some((c) => c.closed)).toBe(false);

  // Saturated and idle: without the pause, Bun retries accept(2) at EMFILE at 100 % of a core.
  const before = cpuTicks(proc.pid);
  const t0 = performance.now();
  await Bun.sleep(2000);
  const cpuShare = (cpuTicks(proc.pid) - before) / TICKS_PER_SECOND / ((performance.now() - t0) / 1000);
  expect(cpuShare).toBeLessThan(0.5);

  // Clients leave; the ones queued in the backlog are accepted and answered, none refused.
  for (let round = 0; round < CLIENTS && served().length < CLIENTS; round++) {
    for (const c of served()) if (!c.socket.destroyed) c.socket.destroy();
    const answeredBefore = served().length;
    await until("queued clients to be answered", () => served().length > answeredBefore || served().length === CLIENTS, output);
  }
  expect(served().length).toBe(CLIENTS);
  expect(output()).toContain("accepting new connections again");
  console.log(`held at once under ulimit -n ${FD_LIMIT}: ${heldAtOnce}; CPU while saturated: ${(cpuShare * 100).toFixed(1)} % of a core`);
}, 60_000);
