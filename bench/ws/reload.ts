// `bun bench/ws/reload.ts [--sockets 1000] [--reloads 3] [--http]`: a reload with N open
// WebSockets (Bun's client, in this process) under a real supervisor; `--http`: N idle HTTP
// keep-alive connections instead (the baseline: what moving a connection costs anyway). Per reload: the supervisor's
// trigger → serving time, connections it reports moved, and the time from the trigger until
// every WebSocket has answered a message sent right after the reload returned, by the new
// generation. Any close event is counted (issue 11: none).
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { startSupervisor } from "../../src/supervisor/index.ts";
import { parseBenchFlags } from "../support.ts";

const flags = parseBenchFlags(
  "bench/ws/reload",
  process.argv.slice(2),
  z.object({
    sockets: z.coerce.number().int().min(1).max(5000).default(1000),
    reloads: z.coerce.number().int().min(1).max(50).default(3),
    http: z.coerce.boolean().default(false),
  }),
);
const dir = mkdtempSync(join(tmpdir(), "liveframe-bench-ws-reload-"));
const supervisor = await startSupervisor({
  entry: join(import.meta.dir, "reload-app.ts"),
  port: 0,
  hostname: "127.0.0.1",
  backlog: 511,
  runtimeDir: join(dir, "rt"),
  drainTimeoutMs: 10_000,
  readyTimeoutMs: 30_000,
  server: {},
  handleSignals: false,
  standby: true,
});
const port = supervisor.status().listeners[0]!.port;
let closes = 0;
if (flags.http) await httpBaseline();
const waiting = new Map<WebSocket, (s: string) => void>();
const sockets: WebSocket[] = [];
for (let i = 0; i < flags.sockets; i += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, flags.sockets - i) }, () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      sockets.push(ws);
      ws.onmessage = (e) => waiting.get(ws)?.(String(e.data));
      ws.onclose = () => closes++;
      return new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("connect failed"));
      });
    }),
  );
}
const roundTrip = () => Promise.all(sockets.map((ws, i) => new Promise<string>((resolve) => (waiting.set(ws, resolve), ws.send(`m${i}`)))));
await roundTrip();
const rows: string[] = [];
for (let r = 0; r < flags.reloads; r++) {
  const t0 = performance.now();
  const o = await supervisor.reload({ reason: "bench" });
  if (!o.ok) throw new Error(`reload failed: ${o.error}`);
  const replies = await roundTrip();
  const allAnswered = performance.now() - t0;
  const fromNew = replies.filter((s) => s.startsWith(`${o.to} `)).length;
  rows.push(`| ${r + 1} | ${Math.round((o as { servingMs?: number }).servingMs ?? o.totalMs)} | ${Math.round(o.totalMs)} | ${o.connectionsMoved} | ${Math.round(allAnswered)} | ${fromNew} / ${sockets.length} | ${closes} |`);
}
for (const ws of sockets) ws.close();
await supervisor.stop();
rmSync(dir, { recursive: true, force: true });
console.log(`reload with ${flags.sockets} open WebSockets; ${cpus().length} cores, Bun ${Bun.version}`);
console.log("| reload | trigger → serving ms | reload returned ms | moved | trigger → all answered by new gen ms | answered by new gen | close events |");
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);

/** The same reloads with idle HTTP keep-alive connections: each sends a GET after each reload. */
async function httpBaseline(): Promise<never> {
  const { connect } = await import("node:net");
  const conns = await Promise.all(
    Array.from({ length: flags.sockets }, () => new Promise<import("node:net").Socket>((resolve, reject) => {
      const c = connect(port, "127.0.0.1", () => resolve(c));
      c.on("error", reject);
      c.on("close", () => closes++);
    })),
  );
  const get = () =>
    Promise.all(
      conns.map((c) => new Promise<string>((resolve) => {
        let buf = "";
        const on = (d: Buffer) => {
          buf += d.toString("latin1");
          const end = buf.indexOf("\r\n\r\n");
          const len = Number(/content-length: *(\d+)/i.exec(buf)?.[1] ?? -1);
          if (end >= 0 && len >= 0 && buf.length >= end + 4 + len) {
            c.off("data", on);
            resolve(buf.slice(end + 4));
          }
        };
        c.on("data", on);
        c.write("GET / HTTP/1.1\r\nhost: b\r\n\r\n");
      })),
    );
  await get();
  const rows: string[] = [];
  for (let r = 0; r < flags.reloads; r++) {
    const t0 = performance.now();
    const o = await supervisor.reload({ reason: "bench" });
    if (!o.ok) throw new Error(`reload failed: ${o.error}`);
    const bodies = await get();
    const all = performance.now() - t0;
    rows.push(`| ${r + 1} | ${Math.round((o as { servingMs?: number }).servingMs ?? o.totalMs)} | ${Math.round(o.totalMs)} | ${o.connectionsMoved} | ${Math.round(all)} | ${bodies.filter((b) => b.startsWith(`${o.to} `)).length} / ${conns.length} | ${closes} |`);
  }
  for (const c of conns) c.destroy();
  await supervisor.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(`baseline: reload with ${flags.sockets} idle HTTP keep-alive connections; ${cpus().length} cores, Bun ${Bun.version}`);
  console.log("| reload | trigger → serving ms | reload returned ms | moved | trigger → all answered by new gen ms | answered by new gen | closes |");
  console.log("|---|---|---|---|---|---|---|");
  for (const row of rows) console.log(row);
  process.exit(0);
}
