// `bun bench/ws/deflate.ts [--messages N]`: what permessage-deflate without context takeover (the
// only kind a WebSocket can carry to the next generation: liveframe's and Bun.serve's default)
// costs against context takeover (a zlib window shared across messages, which cannot move).
// For three message shapes it prints the bytes on the wire per message (uncompressed, no
// takeover, takeover) and the CPU time per message of compress + decompress without takeover.
// Takeover is measured with one node:zlib DeflateRaw stream flushed after each message.
import { constants, createDeflateRaw } from "node:zlib";
import { z } from "zod";
import { parseBenchFlags } from "../support.ts";
import { compressMessage, decompressMessage } from "../../src/ws/deflate.ts";

const flags = parseBenchFlags("bench/ws/deflate", process.argv.slice(2), z.object({ messages: z.coerce.number().int().positive().default(2000) }));

let seq = 0;
const chat = () => JSON.stringify({ type: "message", room: "general", user: `user${seq % 37}`, id: ++seq, at: 1764540000000 + seq * 1713, text: `message number ${seq} about ${["deploys", "reloads", "lunch", "the build"][seq % 4]}` });
const update = () => JSON.stringify({ type: "state", id: ++seq, rows: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item-${i}`, price: ((seq * 7 + i * 13) % 1000) / 10, stock: (seq + i) % 50, tags: ["a", "b", i % 3 ? "c" : "d"] })) });
const page = () => `<section id="s${++seq}">` + Array.from({ length: 400 }, (_, i) => `<p class="row r${i % 5}">row ${i} of page ${seq}</p>`).join("") + "</section>";

async function takeoverSizes(msgs: Buffer[]): Promise<number> {
  const d = createDeflateRaw();
  let total = 0;
  d.on("data", (c: Buffer) => (total += c.length));
  for (const m of msgs) {
    d.write(m);
    await new Promise<void>((resolve) => d.flush(constants.Z_SYNC_FLUSH, () => resolve()));
  }
  d.end();
  // Each flushed message ends with the 4-byte tail a sender strips (RFC 7692 §7.2.1).
  return total - 4 * msgs.length;
}

const rows: string[][] = [];
for (const [name, make] of [["chat JSON (~120 B)", chat], ["state JSON (~3 KiB)", update], ["HTML fragment (~17 KiB)", page]] as const) {
  const msgs = Array.from({ length: flags.messages }, () => Buffer.from(make()));
  const raw = msgs.reduce((a, m) => a + m.length, 0);
  let none = 0;
  const t0 = performance.now();
  for (const m of msgs) {
    const c = compressMessage(m);
    none += c.length;
    decompressMessage(c, 1 << 24);
  }
  const us = ((performance.now() - t0) * 1000) / msgs.length;
  const takeover = await takeoverSizes(msgs);
  const per = (n: number) => `${(n / msgs.length).toFixed(0)} B (${((100 * n) / raw).toFixed(0)} %)`;
  rows.push([name, per(raw), per(none), per(takeover), `${us.toFixed(1)} µs`]);
}
const header = ["message", "uncompressed", "no context takeover", "context takeover", "no-takeover compress+inflate"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(`bytes on the wire per message, ${flags.messages} messages of each shape`);
console.log(line(header));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
