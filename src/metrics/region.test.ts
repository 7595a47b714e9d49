import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { ROW } from "./layout.ts";
import { instrument, recordHandedOver, recordRequest } from "./recorder.ts";
import { MetricsRegion } from "./region.ts";

const cleanups = cleanupAfterEach();
const BUN = process.execPath;
const REGION_TS = new URL("./region.ts", import.meta.url).pathname;
const RECORDER_TS = new URL("./recorder.ts", import.meta.url).pathname;

function tempRegion(slots = 1, lanes?: number): { region: MetricsRegion; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "lf-metrics-"));
  const path = join(dir, "metrics.bin");
  const region = MetricsRegion.create(path, slots, lanes);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => region.close());
  return { region, path };
}

const sumRequests = (r: MetricsRegion) => r.totals().slots.reduce((n, s) => n + s.requests.reduce((a, b) => a + b, 0), 0);

describe("MetricsRegion", () => {
  test("a lane counts requests by class and bucket; folding an exited owner's lane keeps every total and frees the lane", () => {
    const { region, path } = tempRegion();
    const lane = region.claimLane(111, 0)!;
    recordRequest(lane, 200, 0.05);
    recordRequest(lane, 204, 2);
    recordRequest(lane, 503, 20_000);
    recordRequest(lane, 42, 0); // not a status: counted as 5xx
    recordHandedOver(lane, 3);
    region.recordReload(true, 0.2);
    region.recordReload(false, 1.5);
    region.recordRestart(0);
    const before = region.totals();
    expect(before.slots[0]!.requests).toEqual([0, 2, 0, 0, 2]);
    expect(before.slots[0]!.buckets[0]).toBe(2); // 50 µs and 0 s: ≤ 100 µs
    expect(before.slots[0]!.buckets[4]).toBe(1); // 2 ms: ≤ 2.5 ms
    expect(before.slots[0]!.buckets.at(-1)).toBe(1); // 20 s: +Inf
    expect(before.slots[0]!.handedOver).toBe(3);
    expect(before.slots[0]!.restarts).toBe(1);
    expect([before.reloadsOk, before.reloadsFailed]).toEqual([1, 1]);
    // Another process sees the same counts through its own mapping of the file.
    const other = MetricsRegion.open(path);
    cleanups.push(() => other.close());
    expect(other.totals()).toEqual(before);

    expect(region.foldLanes((pid) => pid === 999)).toBe(0); // 111 still there: untouched
    expect(region.foldLanes((pid) => pid === 111)).toBe(1);
    expect(region.totals()).toEqual(before);
    // The freed lane is zeroed and claimed again; counting there adds to the retired totals.
    const again = region.claimLane(222, 0)!;
    expect(again.base).toBe(lane.base);
    expect(Array.from(again.f64.subarray(again.base, again.base + ROW.words)).every((v) => v === 0)).toBe(true);
    recordRequest(again, 200, 1);
    expect(region.totals().slots[0]!.requests).toEqual([0, 3, 0, 0, 2]);
  });

  test("every lane taken: claimLane returns null; a worker slot outside the region is an error naming it", () => {
    const { region } = tempRegion(2, 2);
    expect(region.claimLane(1, 0)).not.toBeNull();
    expect(region.claimLane(2, 1)).not.toBeNull();
    expect(region.claimLane(3, 0)).toBeNull();
    expect(() => region.claimLane(4, 2)).toThrow("worker slot 2 is outside this metrics region's 2 slots");
  });

  test("open refuses a file that is not a metrics region, saying what it found", () => {
    const { path } = tempRegion();
    writeFileSync(path, Buffer.alloc(4096, 7));
    expect(() => MetricsRegion.open(path)).toThrow(/is not a version 1 liveframe metrics region/);
    writeFileSync(path, "tiny");
    expect(() => MetricsRegion.open(path)).toThrow(/holds 4 bytes: not a liveframe metrics region/);
  });

  test("two processes count at once, each in its own lane of an unlinked region opened through /proc: totals rise monotonically while they run and are exact after they exit and are folded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lf-metrics-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const region = MetricsRegion.createUnlinked(dir);
    cleanups.push(() => region.close());
    expect(readdirSync(dir)).toEqual([]); // nothing in the dir to truncate or delete
    const path = region.sharedPath;
    expect(path).toBe(`/proc/${process.pid}/fd/${path.split("/").at(-1)}`);
    const PER_PROCESS = 200_000;
    const script = `
      import { MetricsRegion } from ${JSON.stringify(REGION_TS)};
      import { recordRequest } from ${JSON.stringify(RECORDER_TS)};
      const lane = MetricsRegion.open(${JSON.stringify(path)}).claimLane(process.pid, 0);
      if (!lane) process.exit(3);
      for (let i = 0; i < ${PER_PROCESS}; i++) recordRequest(lane, i % 2 ? 200 : 404, 0.3);
    `;
    const children = [0, 1].map(() => Bun.spawn([BUN, "-e", script], { stdout: "inherit", stderr: "inherit" }));
    for (const c of children) cleanups.push(() => c.kill(9));
    let last = 0;
    let reads = 0;
    const done = Promise.all(children.map((c) => c.exited));
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const now = sumRequests(region);
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
      reads++;
      await Bun.sleep(1);
    }
    expect(await done).toEqual([0, 0]);
    const pids = new Set(children.map((c) => c.pid));
    expect(region.foldLanes((pid) => pids.has(pid))).toBe(2);
    const t = region.totals().slots[0]!;
    expect(t.requests).toEqual([0, PER_PROCESS, 0, PER_PROCESS, 0]);
    expect(t.buckets[2]).toBe(2 * PER_PROCESS); // 300 µs: ≤ 500 µs
    expect(t.sum).toBe((2 * PER_PROCESS * 300) / 1e6); // whole µs: exact
    expect(reads).toBeGreaterThan(0);
  });
});

describe("instrument(app)", () => {
  test("counts a Response, a resolved Promise, a throw and a rejection (as 5xx), and passes each through untouched", async () => {
    const { region } = tempRegion();
    const lane = region.claimLane(1, 0)!;
    const thrown = new Error("sync");
    const rejected = new Error("async");
    const res = new Response("x", { status: 302 });
    const app = {
      fetch(req: Request, extra?: unknown): Response | Promise<Response> {
        const p = new URL(req.url).pathname;
        if (p === "/sync") return res;
        if (p === "/async") return Promise.resolve(new Response(String(extra), { status: 201 }));
        if (p === "/throw") throw thrown;
        return Promise.reject(rejected);
      },
    };
    let clock = 0;
    const counted = instrument(app, lane, () => (clock += 0.5)); // each request takes 0.5 ms
    expect(counted.fetch(new Request("http://h/sync"))).toBe(res);
    const asyncRes = await counted.fetch(new Request("http://h/async"), "server");
    expect([asyncRes.status, await asyncRes.text()]).toEqual([201, "server"]);
    expect(() => counted.fetch(new Request("http://h/throw"))).toThrow(thrown);
    await expect(counted.fetch(new Request("http://h/reject"))).rejects.toBe(rejected);
    const t = region.totals().slots[0]!;
    expect(t.requests).toEqual([0, 1, 1, 0, 2]);
    expect(t.buckets[2]).toBe(4); // 0.5 ms: ≤ 500 µs
    expect(t.sum).toBe(0.002);
  });
});
