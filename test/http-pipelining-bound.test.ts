// A client that pipelines requests and never reads the answers must not make the server hold
// every answer: it stops answering (and reading) while its unsent responses exceed a bound.
// Measured on a real server process: its peak RSS (VmHWM) against its RSS before the flood.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { cleanupAfterEach } from "./support/cleanups.ts";

const cleanups = cleanupAfterEach();
const REQUESTS = 30_000;
const RESPONSE_BODY = 16 * 1024;
const MB = 1024 * 1024;
const STATUS_LINE = "HTTP/1.1 200 OK\r\n";
/** The bound the issue asks for: the flood adds less than this to the server's RSS. */
const MAX_GROWTH_BYTES = 100 * MB;

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

async function startServer(): Promise<{ pid: number; port: number }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures/pipeline-server.ts")], { stdout: "pipe", stderr: "inherit" });
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!/ready (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before it was ready: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { pid: proc.pid, port: Number(/ready (\d+)/.exec(text)![1]) };
}

async function count(port: number): Promise<number> {
  return Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
}

test("30,000 pipelined 16 KiB answers the client never reads stay under +100 MB RSS, and all arrive once it reads", async () => {
  const { pid, port } = await startServer();
  for (let i = 0; i < 50; i++) await fetch(`http://127.0.0.1:${port}/big`).then((r) => r.arrayBuffer()); // warm up
  const warm = await count(port);
  const before = statusKb(pid, "VmRSS");

  // The flooding client: writes every request, reads nothing until told to.
  let received = 0;
  let tail = "";
  let reading = false;
  let wake: () => void = () => {};
  const pending: Uint8Array[] = [];
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s: Socket, d: Buffer) {
        // Count status lines; keep one marker's length minus one, so none is counted twice.
        const text = tail + d.toString("latin1");
        received += text.split(STATUS_LINE).length - 1;
        tail = text.slice(-(STATUS_LINE.length - 1));
        wake();
      },
      drain(s: Socket) {
        while (pending.length > 0) {
          const chunk = pending[0]!;
          const n = s.write(chunk);
          if (n < chunk.byteLength) {
            pending[0] = chunk.subarray(Math.max(n, 0));
            return;
          }
          pending.shift();
        }
      },
    },
  });
  cleanups.push(() => socket.terminate());
  socket.pause(); // do not read: the kernel's receive buffer fills, then the server's send buffer
  const all = Buffer.from(`GET /big HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(REQUESTS), "latin1");
  const n = socket.write(all);
  if (n < all.byteLength) pending.push(all.subarray(Math.max(n, 0)));

  // Wait until the server stops answering: its count stays the same over 20 looks, 100 ms
  // apart (or it answered everything, which only an unbounded server does). Bounded: 60 s.
  let last = -1;
  let same = 0;
  for (let i = 0; i < 600 && same < 20; i++) {
    const now = await count(port);
    if (now - warm >= REQUESTS) break;
    same = now === last ? same + 1 : 0;
    last = now;
    await Bun.sleep(100);
  }
  const peak = statusKb(pid, "VmHWM");
  const answeredWhileNotRead = (await count(port)) - warm;
  console.log(`pipelining bound: answered ${answeredWhileNotRead} of ${REQUESTS} while unread; RSS ${(before / MB).toFixed(0)} MB before, peak ${(peak / MB).toFixed(0)} MB`);
  expect(answeredWhileNotRead).toBeLessThan(REQUESTS);
  expect(peak - before).toBeLessThan(MAX_GROWTH_BYTES);

  // Now read: every answer arrives, nothing was dropped.
  reading = true;
  socket.resume();
  const deadline = Date.now() + 120_000;
  while (received < REQUESTS && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 200);
    });
  }
  expect(reading).toBe(true);
  expect(received).toBe(REQUESTS);
  expect(statusKb(pid, "VmHWM") - before).toBeLessThan(MAX_GROWTH_BYTES);
}, 240_000);
