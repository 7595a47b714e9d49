import { expect, test } from "bun:test";
import { BootBarrier } from "./boot-barrier.ts";

test("every slot booted: all waiters resolve, only once the last one arrives", async () => {
  const b = new BootBarrier(3);
  let done = 0;
  const waits = [0, 1].map((w) => b.booted(w).then(() => done++));
  await Bun.sleep(0);
  expect(done).toBe(0);
  await b.booted(2);
  await Promise.all(waits);
  expect(done).toBe(2);
  expect(b.cause).toBeNull();
});

test("one slot failed: those already waiting and those arriving later are rejected naming it; the first failure is the cause", async () => {
  const b = new BootBarrier(3);
  const early = b.booted(0);
  b.failed(2, new Error("boom"));
  b.failed(1, new Error("later"));
  await expect(early).rejects.toThrow(/worker 2's new generation failed to start/);
  await expect(b.booted(1)).rejects.toThrow(/worker 2/);
  expect(b.cause?.worker).toBe(2);
  expect(b.cause?.error.message).toBe("boom");
});
