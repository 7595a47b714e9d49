// The channel on real socketpairs: frames arrive validated, fds arrive with the frame that
// names them, hostile frames close the channel with the peer named.
import { afterEach, expect, test } from "bun:test";
import { z } from "zod";
import { openSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close, createListener, getSockName, isOpen, sendFds, SOCK_SEQPACKET, socketPair } from "../../ffi/index.ts";
import { Channel, channelPair } from "./channel.ts";

const schema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), n: z.number() }),
  z.object({ type: z.literal("fds"), count: z.number() }),
]);
type Msg = z.infer<typeof schema>;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

async function open() {
  const [a, b] = channelPair();
  const got: { m: Msg; fds: number[] }[] = [];
  const closed = Promise.withResolvers<Error | undefined>();
  const left = await Channel.open<Msg, Msg>(a, schema, "left", { message() {}, close() {} });
  const right = await Channel.open<Msg, Msg>(b, schema, "right peer", {
    message: (m, fds) => got.push({ m, fds }),
    close: (e) => closed.resolve(e),
  });
  cleanups.push(() => {
    left.close();
    right.close();
  });
  return { left, right, got, closed: closed.promise, rawLeft: a };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 500 && !cond(); i++) await Bun.sleep(10);
  expect(cond()).toBe(true);
}

test("frames arrive in order and validated; fds arrive with the frame that names them", async () => {
  const { left, got } = await open();
  const l1 = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  const l2 = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  for (let i = 0; i < 100; i++) left.send({ type: "hello", n: i });
  left.send({ type: "fds", count: 2 }, [l1.fd, l2.fd]);
  await until(() => got.length === 101);
  expect(got.slice(0, 100).map((g) => (g.m as { n: number }).n)).toEqual([...Array(100).keys()]);
  const last = got[100]!;
  expect(last.fds.length).toBe(2);
  // The received fds are new references to the same sockets.
  expect(getSockName(last.fds[0]!).port).toBe(l1.address.port);
  expect(getSockName(last.fds[1]!).port).toBe(l2.address.port);
  for (const fd of [...last.fds, l1.fd, l2.fd]) close(fd);
});

test("253 fds in one frame; a frame longer than a socket buffer arrives whole", async () => {
  const { left, got } = await open();
  const l = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  left.send({ type: "fds", count: 253 }, new Array(253).fill(l.fd));
  const big = { type: "hello" as const, n: 1, pad: "x".repeat(1 << 20) };
  left.send(big as Msg);
  await until(() => got.length === 2);
  expect(got[0]!.fds.length).toBe(253);
  for (const fd of got[0]!.fds) close(fd);
  close(l.fd);
});

test("a malformed frame closes the channel with the peer named, and nothing else happens", async () => {
  const { left, got, closed } = await open();
  left.send({ type: "nope" } as never);
  const err = await closed;
  expect(err?.message).toContain("right peer");
  expect(got.length).toBe(0);
});

test("fds announced but not queued, or queued under another sequence number, are a protocol error", async () => {
  const { rawLeft, closed } = await open();
  const l = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  // Queue one fd tagged 99, then announce frame 1 with 1 fd: the tags differ.
  sendFds(rawLeft.fds, [l.fd], new TextEncoder().encode("99"));
  sendFds(rawLeft.stream, [], new TextEncoder().encode(JSON.stringify({ m: { type: "fds", count: 1 }, f: 1, s: 1 }) + "\n"));
  const err = await closed;
  expect(err?.message).toContain("announced 1 fds");
  close(l.fd);
});

test("an open that Bun refuses closes both ends it was given, and says which channel", async () => {
  const dir = mkdtempSync(join(tmpdir(), "liveframe-channel-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // A regular file is no socket: Bun.connect({fd}) rejects it (and leaves the fd open).
  const file = openSync(join(dir, "not-a-socket"), "w+");
  const [, seqpacket] = socketPair(SOCK_SEQPACKET);
  let error: Error | undefined;
  try {
    await Channel.open<Msg, Msg>({ stream: file, fds: seqpacket }, schema, "generation 7", { message() {}, close() {} });
  } catch (err) {
    error = err as Error;
  }
  expect(error?.message).toContain("generation 7");
  expect([isOpen(file), isOpen(seqpacket)]).toEqual([false, false]);
});
