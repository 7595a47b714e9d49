// SCM_RIGHTS between real processes: a listener and a live TCP connection move from this
// process to a child, which serves them; batching and truncation fail loudly.
import { expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import {
  close,
  createListener,
  isOpen,
  MAX_FDS_PER_MESSAGE,
  recvFds,
  sendFds,
  socketPair,
  SOCK_SEQPACKET,
} from "../ffi/index.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const FFI = new URL("../ffi/index.ts", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();
const cleanups = cleanupAfterEach();

/** Spawns a Bun child with `channel` as its fd 3, running `code` (an async body). */
function child(channel: number, code: string) {
  const proc = Bun.spawn([process.execPath, "-e", `const f = await import(${JSON.stringify(FFI)});\n${code}`], {
    stdio: ["ignore", "pipe", "pipe", channel] as never,
  });
  cleanups.push(() => proc.kill(9));
  return proc;
}

/** Waits (bounded) for the child's next message on our end of the channel. */
async function receive(sock: number, maxFds = 4) {
  for (let i = 0; i < 400; i++) {
    const r = recvFds(sock, { maxFds, nonBlocking: true });
    if (r) return r;
    await Bun.sleep(25);
  }
  throw new Error("no message from the child within 10 s");
}

test("a listening socket passed to a child is served there, and survives our copy closing", async () => {
  const [ours, theirs] = socketPair(SOCK_SEQPACKET);
  cleanups.push(() => close(ours));
  const proc = child(
    theirs,
    `const r = f.recvFds(3, { maxFds: 1 });
     Bun.listen({ fd: r.fds[0], socket: { data(s) { s.write("HTTP/1.1 200 OK\\r\\nconnection: close\\r\\ncontent-length: " + String(process.pid).length + "\\r\\n\\r\\n" + process.pid); s.end(); } } });
     f.sendFds(3, [], new TextEncoder().encode("listening"));
     await Bun.sleep(30000);`,
  );
  close(theirs);
  const { fd, address } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 64 });
  sendFds(ours, [fd], enc.encode("take it"));
  close(fd); // the child holds its own reference now
  expect(dec.decode((await receive(ours)).data)).toBe("listening");
  const res = await fetch(`http://127.0.0.1:${address.port}/`);
  expect(await res.text()).toBe(String(proc.pid));
});

test("a live keep-alive connection moves to a child with the bytes already read; the client sees no close", async () => {
  const [ours, theirs] = socketPair(SOCK_SEQPACKET);
  cleanups.push(() => close(ours));
  // The child adopts the connection, answers the request whose bytes we already read, then the next one.
  const proc = child(
    theirs,
    `const r = f.recvFds(3, { maxFds: 1 });
     let pending = new TextDecoder().decode(r.data);
     const reply = (s) => {
       while (pending.includes("\\r\\n\\r\\n")) {
         const i = pending.indexOf("\\r\\n\\r\\n");
         const path = pending.slice(0, i).split(" ")[1];
         pending = pending.slice(i + 4);
         const body = "child " + process.pid + " " + path;
         s.write("HTTP/1.1 200 OK\\r\\ncontent-length: " + body.length + "\\r\\n\\r\\n" + body);
       }
     };
     await Bun.connect({ fd: r.fds[0], socket: { open(s) { reply(s); }, data(s, d) { pending += new TextDecoder().decode(d); reply(s); } } });
     f.sendFds(3, [], new TextEncoder().encode("adopted"));
     await Bun.sleep(30000);`,
  );
  close(theirs);

  let parentSocket: { fd?: number; pause(): void; close(): void } | undefined;
  const gotData = Promise.withResolvers<Uint8Array>();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        // Read the first request but do not answer it: it goes along with the fd.
        s.pause();
        parentSocket = s as never;
        gotData.resolve(new Uint8Array(d));
      },
    },
  });
  cleanups.push(() => server.stop(true));

  const client: Socket = connect(server.port, "127.0.0.1");
  cleanups.push(() => client.destroy());
  let received = "";
  let closed = false;
  client.on("data", (d) => (received += d.toString()));
  client.on("close", () => (closed = true));
  client.on("error", () => (closed = true));
  await new Promise<void>((r) => client.once("connect", () => r()));
  client.write("GET /first HTTP/1.1\r\nhost: x\r\n\r\n");

  const already = await gotData.promise;
  const fd = parentSocket!.fd!;
  expect(typeof fd).toBe("number");
  sendFds(ours, [fd], already);
  expect(dec.decode((await receive(ours)).data)).toBe("adopted");
  parentSocket!.close(); // drop our copy: close, never terminate

  for (let i = 0; i < 200 && !received.includes("/first"); i++) await Bun.sleep(25);
  expect(received).toContain(`child ${proc.pid} /first`);
  client.write("GET /second HTTP/1.1\r\nhost: x\r\n\r\n");
  for (let i = 0; i < 200 && !received.includes("/second"); i++) await Bun.sleep(25);
  expect(received).toContain(`child ${proc.pid} /second`);
  await Bun.sleep(200);
  expect(closed).toBe(false);
});

test(`${MAX_FDS_PER_MESSAGE} fds cross in one message; one more is refused before sending`, () => {
  const [a, b] = socketPair(SOCK_SEQPACKET);
  cleanups.push(() => close(a), () => close(b));
  const [x, y] = socketPair();
  cleanups.push(() => close(x), () => close(y));
  const many = new Array<number>(MAX_FDS_PER_MESSAGE).fill(x);
  sendFds(a, many, enc.encode("batch"));
  const got = recvFds(b)!;
  expect(got.fds.length).toBe(MAX_FDS_PER_MESSAGE);
  expect(new Set(got.fds).size).toBe(MAX_FDS_PER_MESSAGE); // each one a fresh fd of ours
  for (const fd of got.fds) close(fd);
  expect(() => sendFds(a, [...many, x], enc.encode("too many"))).toThrow(/kernel allows 253: batch/);
});

test("a receive buffer too small for the fds sent is an error, and the fds that arrived are closed", () => {
  const [a, b] = socketPair(SOCK_SEQPACKET);
  cleanups.push(() => close(a), () => close(b));
  const [x, y] = socketPair();
  cleanups.push(() => close(x), () => close(y));
  // 64 fds into room for 32 (CMSG alignment can round room for 63 up to 64).
  sendFds(a, new Array<number>(64).fill(x), enc.encode("64"));
  let err: Error | undefined;
  try {
    recvFds(b, { maxFds: 32 });
  } catch (e) {
    err = e as Error;
  }
  expect(err?.message).toMatch(/MSG_CTRUNC/);
  // Nothing leaked: the next fd numbers after ours are free.
  const [p, q] = socketPair();
  expect(Math.max(p, q)).toBeLessThan(Math.max(a, b, x, y) + 3);
  close(p);
  close(q);
  expect(isOpen(x)).toBe(true);
});

test("recvFds returns null when nothing is queued (nonBlocking) and at end of stream", () => {
  const [a, b] = socketPair(SOCK_SEQPACKET);
  cleanups.push(() => close(b));
  expect(recvFds(b, { nonBlocking: true })).toBeNull();
  close(a);
  expect(recvFds(b)).toBeNull();
});
