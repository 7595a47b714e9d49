// A Hono app serving files with hono/bun serveStatic (Range included), on liveframe serve() or
// Bun.serve (SERVER=liveframe|bun), from ROOT, on PORT; prints "ready <port>".
import { Hono } from "hono";
import { serveStatic } from "hono/bun";
import { serve } from "../../src/http/index.ts";

const root = process.env.ROOT;
if (!root) throw new Error("bench/file/server.ts needs ROOT (the directory to serve)");
const app = new Hono();
app.use("/*", serveStatic({ root }));
const port = Number(process.env.PORT ?? 0);
if (process.env.SERVER === "bun") {
  const s = Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch });
  console.log(`ready ${s.port}`);
} else {
  const s = serve(app, { port, hostname: "127.0.0.1" });
  console.log(`ready ${s.port}`);
}
