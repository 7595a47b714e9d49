// Differential fuzzing against an independent implementation: random client frame streams (mostly
// valid, some broken in one way) go to liveframe's parser, cut at random points, and to the npm ws
// package's Receiver, whole. Both must agree on every message and on the close code. Where the
// RFC lets them differ, the difference is stated: liveframe fails a bad UTF-8 text message as soon
// as the bad bytes arrive (RFC 6455 §8.1), ws when the message ends, so on a 1007 liveframe's
// events are a prefix of ws's. (64-bit lengths with the top bit set are left out: ws answers 1009
// there, liveframe 1002, which the RFC's "MUST be 0" calls a framing error.)
import { expect, test } from "bun:test";
import { createRequire } from "node:module";
import { FrameParser } from "./frame-parser.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, WsProtocolError } from "./protocol.ts";
import { closePayload, concat, frame, type FrameSpec } from "./testing/frames.ts";
import { WsReceiver } from "./testing/real-ws.ts";

const require = createRequire(import.meta.url);
const { kStatusCode } = require(require.resolve("ws/package.json").replace(/package\.json$/, "lib/constants.js")) as { kStatusCode: symbol };

const MAX = 4096;
type Outcome = { events: string[]; error: number | null };

function ours(bytes: Uint8Array, cuts: number[]): Outcome {
  const events: string[] = [];
  const p = new FrameParser(
    {
      onText: (t) => events.push(`text:${Buffer.from(t).toString("hex")}`),
      onBinary: (b) => events.push(`binary:${b.toString("hex")}`),
      onPing: (d) => events.push(`ping:${d.toString("hex")}`),
      onPong: (d) => events.push(`pong:${d.toString("hex")}`),
      onClose: (c, r) => events.push(`close:${c}:${Buffer.from(r).toString("hex")}`),
    },
    { maxMessageBytes: MAX },
  );
  try {
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      p.push(bytes.subarray(from, cut));
      from = cut;
    }
  } catch (e) {
    if (e instanceof WsProtocolError) return { events, error: e.closeCode };
    throw e;
  }
  return { events, error: null };
}

async function theirs(bytes: Uint8Array): Promise<Outcome> {
  const events: string[] = [];
  const r = new WsReceiver({ isServer: true, maxPayload: MAX }) as any;
  r.on("message", (d: Buffer, isBinary: boolean) => events.push(`${isBinary ? "binary" : "text"}:${d.toString("hex")}`));
  r.on("ping", (d: Buffer) => events.push(`ping:${d.toString("hex")}`));
  r.on("pong", (d: Buffer) => events.push(`pong:${d.toString("hex")}`));
  r.on("conclude", (c: number, reason: Buffer) => events.push(`close:${c}:${reason.toString("hex")}`));
  const done = Promise.withResolvers<Outcome>();
  r.on("error", (e: any) => done.resolve({ events, error: e[kStatusCode] }));
  r.on("finish", () => done.resolve({ events, error: null }));
  r.write(Buffer.from(bytes));
  r.end();
  return done.promise;
}

function rng(seed: number) {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 0x1_0000_0000);
}

function randomStream(rand: () => number): Uint8Array {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const text = (n: number) => {
    const pieces = ["a", "é", "€", "𝄞", " ", "z"];
    let s = "";
    while (Buffer.byteLength(s) < n) s += pick(pieces);
    return Buffer.from(s);
  };
  const brokenUtf8 = () => pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]);
  const frames: Uint8Array[] = [];
  let open = false; // inside a fragmented message
  const n = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    const r = rand();
    let spec: FrameSpec;
    if (r < 0.3) {
      const op = open ? OP_CONTINUATION : pick([OP_TEXT, OP_BINARY]);
      const len = pick([0, 1, 5, 125, 126, 200, 3000, 5000]);
      let payload: Uint8Array = rand() < 0.5 ? text(len) : bytes(len);
      if (rand() < 0.1) payload = concat(payload, new Uint8Array(brokenUtf8()));
      const fin = rand() < 0.6;
      spec = { op, payload, fin };
      open = !fin;
    } else if (r < 0.45) {
      spec = { op: pick([OP_PING, OP_PONG]), payload: bytes(rand() < 0.05 ? 126 : Math.floor(rand() * 126)) };
    } else if (r < 0.55) {
      const code = pick([1000, 1001, 1004, 1005, 1006, 1011, 1012, 1015, 1016, 2999, 3000, 4999, 5000, 0, 999]);
      const reason = rand() < 0.2 ? new Uint8Array(brokenUtf8()) : text(Math.floor(rand() * 30));
      spec = { op: OP_CLOSE, payload: rand() < 0.1 ? bytes(Math.floor(rand() * 2)) : closePayload(code, reason) };
    } else if (r < 0.65) {
      // A data frame in the wrong place, or a continuation without a start.
      spec = { op: pick([OP_TEXT, OP_BINARY, OP_CONTINUATION]), payload: bytes(3), fin: rand() < 0.5 };
      if (spec.op === OP_CONTINUATION) open = open && !spec.fin;
      else open = !spec.fin;
    } else {
      const op = open ? OP_CONTINUATION : OP_TEXT;
      spec = { op, payload: text(10), fin: true };
      open = false;
    }
    // One kind of damage now and then.
    const d = rand();
    if (d < 0.03) spec.mask = null;
    else if (d < 0.06) spec.rsv = pick([0x40, 0x20, 0x10]);
    else if (d < 0.08) spec.op = pick([3, 7, 0xb, 0xf]);
    else if (d < 0.1 && spec.op >= 8) spec.fin = false;
    else if (d < 0.12) spec.lengthBytes = pick([2, 8] as const);
    frames.push(frame(spec));
  }
  return concat(...frames);
}

test("3000 random streams: liveframe (cut at random points) and ws (whole) agree", async () => {
  const rand = rng(20261130);
  const tally = { clean: 0, failedFaster: 0, errors: new Map<number, number>() };
  for (let i = 0; i < 3000; i++) {
    const input = randomStream(rand);
    const cuts = Array.from({ length: Math.floor(rand() * 4) }, () => Math.floor(rand() * (input.length + 1))).sort((a, b) => a - b);
    const a = ours(input, cuts);
    const b = await theirs(input);
    const where = `stream ${i}: ${Buffer.from(input.subarray(0, 64)).toString("hex")}`;
    if (a.error === 1007 && b.error !== 1007) {
      // Failed fast inside a text message ws has not finished yet: ws either never sees its end
      // (null) or meets a broken frame later in the message first. Its events so far must match.
      expect({ where, ws: b.error === null || b.error === 1002 || b.error === 1009 }).toEqual({ where, ws: true });
      tally.failedFaster++;
    } else expect({ where, error: a.error }).toEqual({ where, error: b.error });
    if (a.error === 1007) expect({ where, events: b.events.slice(0, a.events.length) }).toEqual({ where, events: a.events });
    else expect({ where, events: a.events }).toEqual({ where, events: b.events });
    if (a.error === null) tally.clean++;
    else tally.errors.set(a.error, (tally.errors.get(a.error) ?? 0) + 1);
  }
  // The generator must exercise clean streams and each error class, or the agreement means little.
  expect(tally.clean).toBeGreaterThan(300);
  for (const code of [1002, 1007, 1009]) expect(tally.errors.get(code) ?? 0).toBeGreaterThan(20);
}, 60_000); // CPU-bound (3000 streams through two parsers): 2 to 7 s on a loaded 2-core machine
