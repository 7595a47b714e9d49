// `bun bench/ws/echo.ts [--seconds N] [--connections N] [--rounds N]`: WebSocket echo messages
// per second on liveframe's engine (serve() with liveframe's upgradeWebSocket) against Bun.serve
// with hono/bun's, the same Hono app and the same client process (Bun's WebSocket client, each
// connection keeping one 32-byte text message in flight). Servers alternate within each round,
// so a busy machine slows both; only the same-run ratio means much (issue 11: ≥ 0.8×).
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
  } else {
    const { serve, upgradeWebSocket } = await import("../../src/index.ts");
    port = serve(make(upgradeWebSocket), { port: 0, hostname: "127.0.0.1" }).port;
  }
  console.log(port);
  await new Promise(() => {}); // until killed
} else if (role === "--client") {
  const [port, connections, seconds] = process.argv.slice(3).map(Number) as [number, number, number];
  const { runEchoClient } = await import("./echo-client.ts");
  await runEchoClient(port, connections, seconds);
} else {
  const flags = parseBenchFlags(
    "bench/ws/echo",
    process.argv.slice(2),
    z.object({
      seconds: z.coerce.number().positive().default(3),
      connections: z.coerce.number().int().positive().default(50),
      rounds: z.coerce.number().int().positive().default(2),
    }),
  );
  const results: Record<string, number[]> = { bun: [], liveframe: [] };
  for (let r = 0; r < flags.rounds; r++) {
    for (const variant of (r % 2 === 0 ? ["bun", "liveframe"] : ["liveframe", "bun"]) as ("bun" | "liveframe")[]) {
      results[variant]!.push(await measureEcho(import.meta.path, variant, flags.connections, flags.seconds));
    }
  }
  const best = (xs: number[]) => Math.max(...xs);
  console.log(`echo, ${flags.connections} connections × 1 message in flight, ${flags.seconds} s, best of ${flags.rounds}`);
  console.log(`| server | messages/s | all rounds |\n|---|---|---|`);
  console.log(`| Bun.serve + hono/bun | ${best(results.bun!)} | ${results.bun!.join(", ")} |`);
  console.log(`| liveframe serve() + upgradeWebSocket | ${best(results.liveframe!)} | ${results.liveframe!.join(", ")} |`);
  console.log(`ratio liveframe / Bun.serve: ${(best(results.liveframe!) / best(results.bun!)).toFixed(2)}×`);
}
