// The app `liveframe dev` serves when there is none: it shows what a reload keeps.
// Edit this file and save: the page's numbers change, the browser's connection and the
// counter do not reset.
import { Hono } from "hono";
import { z } from "zod";
import { defineState, generation } from "../../src/index.ts";
import { page } from "./page.ts";

/** Shared by every generation through an mmap'd file: survives reloads and restarts. */
const state = defineState(z.object({ visits: z.int32() }), { name: "demo" });

const app = new Hono();

/** What the page polls: one small JSON object per second over the browser's keep-alive connection. */
const info = () => ({
  generation: generation.number,
  pid: generation.pid,
  visits: state.visits.get(),
  carriedOver: generation.adoptedConnections,
  underLiveframe: generation.underLiveframe,
});

app.get("/", (c) => {
  state.visits.add(1);
  return c.html(page(info()));
});
app.get("/api/info", (c) => c.json(info()));
app.post("/api/visit", (c) => c.json({ visits: state.visits.add(1) }));

export default app;
