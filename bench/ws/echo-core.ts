// `bun bench/ws/echo-core.ts [--seconds N] [--connections N] [--rounds N]`: echo messages per
// second of the WebSocket protocol core (src/ws on Bun.listen through the test front
// src/ws/testing/loopback-server.ts, with liveframe's upgradeWebSocket) against Bun.serve with
// hono/bun's, the same Hono app and the same client process (Bun's WebSocket client, each
// connection keeping one 32-byte text message in flight). An early indicator for issue 11's
// "≥ 0.8× Bun.serve" before the engine integration exists; only the same-run ratio means much.
// A third server, "ceiling", answers every frame with a fixed frame and parses nothing: what
// Bun.listen and one JS callback per read can do on this machine at all.
import { z } from "zod";
import { parseBenchFlags } from "../support.ts";
import { measureEcho } from "./echo-client.ts";

const role = process.argv[2];

if (role === "--server") {
  const variant = process.argv[3];
  const { Hono } = await import("hono");
  const make = (upgrade: any) => {
    const app = new Hono();
    app.get("/ws", upgrade(() => ({ onMessage: (e: MessageEvent, ws: { send(d: unknown): void }) => ws.send(e.data) })));
    return app;
  };
  let port: number;
  if (variant === "bun") {
    const { upgradeWebSocket, websocket } = await import("hono/bun");
    port = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: make(upgradeWebSocket).fetch, websocket }).port!;
  } else if (variant === "ceiling") {
    // What Bun.listen + JS does with no protocol work: handshake, then one fixed 34-byte frame
    // back per 38-byte client frame (the client's 32-byte masked text), nothing parsed.
    const { acceptKey } = await import("../../src/ws/handshake.ts");
    const reply = Buffer.concat([Buffer.from([0x81, 32]), Buffer.from("x".repeat(32))]);
    port = Bun.listen<{ up: boolean; pending: number }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.data = { up: false, pending: 0 };
        },
        data(s, d) {
          if (!s.data.up) {
            const key = /sec-websocket-key: *([^\r]+)/i.exec(d.toString("latin1"))![1]!;
            s.data.up = true;
            s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
            return;
          }
          const total = s.data.pending + d.length;
          s.data.pending = total % 38;
          for (let i = 0; i < Math.floor(total / 38); i++) s.write(reply);
        },
      },
    }).port;
  } else {
    const { upgradeWebSocket } = await import("../../src/ws/upgrade.ts");
    const { startLoopbackServer } = await import("../../src/ws/testing/loopback-server.ts");
    port = startLoopbackServer(make(upgradeWebSocket)).port;
  }
  console.log(port);
  await new Promise(() => {}); // until killed
} else if (role === "--client") {
  const [port, connections, seconds] = process.argv.slice(3).map(Number) as [number, number, number];
  const { runEchoClient } = await import("./echo-client.ts");
  await runEchoClient(port, connections, seconds);
} else {
  const flags = parseBenchFlags(
    "bench/ws/echo-core",
    process.argv.slice(2),
    z.object({
      seconds: z.coerce.number().positive().default(3),
      connections: z.coerce.number().int().positive().default(50),
      rounds: z.coerce.number().int().positive().default(2),
    }),
  );
  const results: Record<string, number[]> = { bun: [], core: [], ceiling: [] };
  for (let r = 0; r < flags.rounds; r++) {
    for (const variant of ["bun", "core", "ceiling"] as const) {
      results[variant]!.push(await measureEcho(import.meta.path, variant, flags.connections, flags.seconds));
    }
  }
  const best = (xs: number[]) => Math.max(...xs);
  console.log(`echo, ${flags.connections} connections × 1 message in flight, ${flags.seconds} s, best of ${flags.rounds}`);
  console.log(`| server | messages/s |\n|---|---|`);
  console.log(`| Bun.serve + hono/bun | ${best(results.bun!)} |`);
  console.log(`| src/ws core on Bun.listen + liveframe upgradeWebSocket | ${best(results.core!)} |`);
  console.log(`| ceiling: Bun.listen, fixed reply, no parsing | ${best(results.ceiling!)} |`);
  console.log(`ratio core / Bun.serve: ${(best(results.core!) / best(results.bun!)).toFixed(2)}×`);
}
