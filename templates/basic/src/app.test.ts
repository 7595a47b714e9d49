import { expect, test } from "bun:test";
import app, { state } from "./app.ts";

test("GET / greets and counts the visit in shared state", async () => {
  const before = state.visits.get();
  const res = await app.request("/");
  expect(res.status).toBe(200);
  expect(await res.text()).toContain("Hello from generation");
  expect(state.visits.get()).toBe(before + 1);
});

test("GET /hello/:name answers JSON", async () => {
  const res = await app.request("/hello/ada");
  expect(await res.json()).toEqual({ hello: "ada" });
});
