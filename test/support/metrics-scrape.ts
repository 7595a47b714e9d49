// Reading liveframe's /metrics in end-to-end tests: every sample line as a map, and the check
// that counters never go backwards between two reads (test/metrics.test.ts,
// test/workers-metrics.test.ts).
import { expect } from "bun:test";

/** Series (name plus labels) → value. */
export type Scrape = Map<string, number>;

/** Every sample line → value; also checks the response is the 0.0.4 text format. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url, { headers: { connection: "close" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const samples: Scrape = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/**
 * Counters (and histogram parts) never go backwards, and none disappears; the series whose
 * names start with one of `gauges` may go down.
 */
export function expectMonotonic(before: Scrape, after: Scrape, when: string, gauges: string[]): void {
  for (const [series, value] of before) {
    if (gauges.some((g) => series.startsWith(g))) continue;
    const now = after.get(series);
    if (now === undefined || now < value) throw new Error(`${series} went from ${value} to ${now} ${when}`);
  }
}
