// Baseline instance: Bun.serve with reusePort on a shared port, the way Bun's cluster guide and
// PM2-style reloads do it. On SIGTERM it stops (stop accepting, let Bun close its connections)
// and exits after at most STOP_LIMIT_MS, like a process manager's kill timeout.
import app from "./app.ts";

/** A process manager's usual kill timeout for the old instance. */
const STOP_LIMIT_MS = 5000;

const server = Bun.serve({ port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1", reusePort: true, fetch: app.fetch });
console.log(`ready ${server.port}`);
process.on("SIGTERM", () => {
  setTimeout(() => process.exit(0), STOP_LIMIT_MS).unref();
  void server.stop().then(() => process.exit(0));
});
