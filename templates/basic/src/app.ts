// A liveframe app is a Hono app: default-export it. `npm run dev` serves it and starts a new
// generation on every save; `npm start` runs it for production.
import { Hono } from "hono";
import { z } from "zod";
import { defineState, generation } from "liveframe";

/**
 * Shared by every generation through a memory-mapped file in .liveframe/state: it survives
 * reloads and restarts, and concurrent updates from two generations are never lost.
 */
export const state = defineState(z.object({ visits: z.int32() }), { name: "basic" });

const app = new Hono();

app.get("/", (c) => {
  const visits = state.visits.add(1);
  return c.text(`Hello from generation ${generation.number} (pid ${generation.pid}). Visits so far: ${visits}\n`);
});

app.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));

export default app;

/** Optional: runs before this generation is declared ready (open pools, warm caches). */
export async function start(): Promise<void> {}
