// A JSON API on liveframe: input validated with zod, order ids and totals kept in state that
// every generation shares, so a reload neither repeats an id nor loses a count.
import { Hono } from "hono";
import { z } from "zod";
import { defineState, generation } from "liveframe";

export const stats = defineState(
  z.object({ lastOrderId: z.int32(), orders: z.int32(), items: z.int32() }),
  { name: "api" },
);

export const orderSchema = z.object({
  item: z.string().trim().min(1, "item must not be empty").max(100),
  quantity: z.number().int("quantity must be a whole number").min(1).max(1000),
});

const app = new Hono();

app.post("/api/orders", async (c) => {
  const body: unknown = await c.req.json().catch(() => undefined);
  const parsed = orderSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ field: i.path.join("."), message: i.message }));
    return c.json({ error: "invalid order", problems }, 400);
  }
  const id = stats.lastOrderId.add(1);
  stats.orders.add(1);
  stats.items.add(parsed.data.quantity);
  return c.json({ id, ...parsed.data }, 201);
});

app.get("/api/stats", (c) =>
  c.json({
    orders: stats.orders.get(),
    items: stats.items.get(),
    generation: generation.number,
  }),
);

app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

export default app;
