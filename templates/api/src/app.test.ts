import { expect, test } from "bun:test";
import app, { stats } from "./app.ts";

const post = (body: unknown) =>
  app.request("/api/orders", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("POST /api/orders creates an order with a fresh id and updates the shared totals", async () => {
  const before = { orders: stats.orders.get(), items: stats.items.get() };
  const res = await post({ item: "tea", quantity: 3 });
  expect(res.status).toBe(201);
  const order = (await res.json()) as { id: number; item: string; quantity: number };
  expect(order).toMatchObject({ item: "tea", quantity: 3 });
  const next = (await (await post({ item: "cake", quantity: 1 })).json()) as { id: number };
  expect(next.id).toBe(order.id + 1);
  const totals = (await (await app.request("/api/stats")).json()) as { orders: number; items: number };
  expect(totals.orders).toBe(before.orders + 2);
  expect(totals.items).toBe(before.items + 4);
});

test("invalid input is a 400 that names the field", async () => {
  const res = await post({ item: "", quantity: 0 });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { problems: { field: string }[] };
  expect(body.problems.map((p) => p.field).sort()).toEqual(["item", "quantity"]);
});
