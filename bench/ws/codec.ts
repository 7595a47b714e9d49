// `bun bench/ws/codec.ts [--mib N] [--rounds N]`: parse + unmask throughput of liveframe's frame
// parser against the npm ws package's Receiver (pure JS: no bufferutil / utf-8-validate addons),
// in the same process on the same bytes: masked client frames of 16 B, 1 KiB and 64 KiB, text
// (with UTF-8 validation and decoding to a string) and binary, fed in 64 KiB chunks as TCP reads
// arrive. Only the ratio between the two columns means something on a shared machine.
import { z } from "zod";
import { parseBenchFlags } from "../support.ts";
import { FrameParser } from "../../src/ws/frame-parser.ts";
import { OP_BINARY, OP_TEXT } from "../../src/ws/protocol.ts";
import { frame } from "../../src/ws/testing/frames.ts";
import { WsReceiver } from "../../src/ws/testing/real-ws.ts";

const flags = parseBenchFlags(
  "bench/ws/codec",
  process.argv.slice(2),
  z.object({
    mib: z.coerce.number().int().positive().default(32),
    rounds: z.coerce.number().int().positive().default(5),
  }),
);

/** A TCP read's worth: what the engine gets per data event under load. */
const CHUNK = 64 * 1024;

function stream(op: number, size: number, totalBytes: number): { chunks: Uint8Array[]; messages: number } {
  const payload = op === OP_TEXT ? new TextEncoder().encode("héllo wörld, ".repeat(Math.ceil(size / 15))).subarray(0, size) : Uint8Array.from({ length: size }, (_, i) => i & 0xff);
  // Cut text at a character boundary so every message is valid UTF-8.
  let p = payload;
  if (op === OP_TEXT) {
    let end = size;
    while (end > 0 && (p[end - 1]! & 0xc0) === 0x80) end--;
    if (end > 0 && p[end - 1]! >= 0xc0) end--;
    p = payload.subarray(0, end);
  }
  const one = frame({ op, payload: p, mask: [0x12, 0x34, 0x56, 0x78] });
  const messages = Math.max(1, Math.floor(totalBytes / one.length));
  const all = new Uint8Array(one.length * messages);
  for (let i = 0; i < messages; i++) all.set(one, i * one.length);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return { chunks, messages };
}

function runLiveframe(chunks: Uint8Array[]): number {
  let n = 0;
  const p = new FrameParser(
    { onText: () => n++, onBinary: () => n++, onPing() {}, onPong() {}, onClose() {} },
    { maxMessageBytes: 16 << 20 },
  );
  for (const c of chunks) p.push(c);
  return n;
}

function runWs(chunks: Uint8Array[]): number {
  let n = 0;
  const r = new WsReceiver({ isServer: true, maxPayload: 16 << 20 });
  r.on("message", () => n++);
  r.on("error", (e: Error) => {
    throw e;
  });
  for (const c of chunks) r.write(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return n;
}

/** ws unmasks in place in the buffers it is given, so every run gets a fresh copy (made untimed). */
const fresh = (chunks: Uint8Array[]) => chunks.map((c) => c.slice());

function best(fn: (chunks: Uint8Array[]) => number, chunks: Uint8Array[], expect: number, rounds: number): number {
  let bestMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const input = fresh(chunks);
    const t0 = performance.now();
    const got = fn(input);
    const ms = performance.now() - t0;
    if (got !== expect) throw new Error(`parsed ${got} messages, expected ${expect}`);
    bestMs = Math.min(bestMs, ms);
  }
  return bestMs;
}

const rows: string[][] = [];
for (const [name, op] of [["binary", OP_BINARY], ["text", OP_TEXT]] as const) {
  for (const size of [16, 1024, 64 * 1024]) {
    const { chunks, messages } = stream(op, size, flags.mib << 20);
    const bytes = chunks.reduce((a, c) => a + c.length, 0);
    // Warm both up (JIT) before timing.
    runLiveframe(fresh(chunks));
    runWs(fresh(chunks));
    const lf = best(runLiveframe, chunks, messages, flags.rounds);
    const ws = best(runWs, chunks, messages, flags.rounds);
    const mbs = (ms: number) => ((bytes / (1 << 20)) / (ms / 1000)).toFixed(0);
    const mps = (ms: number) => ((messages / (ms / 1000)) / 1e6).toFixed(2);
    rows.push([`${name} ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}`, `${mbs(lf)} MiB/s (${mps(lf)} M msg/s)`, `${mbs(ws)} MiB/s (${mps(ws)} M msg/s)`, `${(ws / lf).toFixed(2)}×`]);
  }
}
const header = ["message", "liveframe FrameParser", "ws Receiver (pure JS)", "liveframe / ws"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(`parse + unmask, ${flags.mib} MiB per case, best of ${flags.rounds}, 64 KiB reads`);
console.log(line(header));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
