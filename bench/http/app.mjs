// The benchmark's Hono app: the same four routes on every server. Plain JS so that Node (which
// cannot run TypeScript) loads the very same file as the Bun servers; types in app.d.mts.
import { Hono } from "hono";

export function benchApp() {
  const app = new Hono();
  app.get("/", (c) => c.text("Hello World"));
  app.get("/json", (c) => c.json({ message: "Hello, World!" }));
  app.get("/user/:id", (c) => c.text(`user ${c.req.param("id")}`));
  app.post("/echo", async (c) => c.body(await c.req.arrayBuffer()));
  return app;
}
