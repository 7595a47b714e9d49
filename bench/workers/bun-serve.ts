// Baseline: one Bun.serve process with reusePort (run twice on one port: the kernel spreads
// connections over the two sockets of the reuseport group).
import app from "./app.ts";

const server = Bun.serve({ port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1", reusePort: true, fetch: app.fetch });
console.log(`ready ${server.port}`);
process.on("SIGTERM", () => process.exit(0));
