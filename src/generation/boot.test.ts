// Loading an app: every way it can fail becomes one message naming the file and line.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadApp } from "./boot.ts";

const dir = mkdtempSync(join(tmpdir(), "liveframe-boot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function entry(source: string): string {
  const path = join(dir, `app${n++}.ts`);
  writeFileSync(path, source);
  return path;
}

test("an app with start and stop hooks loads; start runs before loadApp resolves", async () => {
  const path = entry(`export let started = false;\nexport async function start() { await Bun.sleep(10); started = true; }\nexport function stop() {}\nexport default { fetch: () => new Response("ok") };\n`);
  const loaded = await loadApp(path);
  expect((await loaded.app.fetch(new Request("http://x/"))).status).toBe(200);
  expect(typeof loaded.stop).toBe("function");
  expect((await import(path)).started).toBe(true);
});

const failures: [string, string, RegExp][] = [
  ["throws at import", `const a = 1;\nthrow new Error("no database");\nexport default {};\n`, /failed to load: no database \(at .*app\d+\.ts:2:\d+\)/],
  ["syntax error", `export default {\n  fetch() {}\n  broken here\n};\n`, /failed to load: syntax error\n\s+.*app\d+\.ts:3:\d+: /],
  // Bun reports a file with exactly one syntax error as a lone BuildMessage, not an AggregateError.
  ["single syntax error", `export default {\n  fetch( {\n}\n`, /failed to load: syntax error\n\s+.*app\d+\.ts:3:\d+: Expected "\)" but found end of file/],
  ["single syntax error in a statement", `const x: number = ;\nexport default { fetch: () => new Response("") };\n`, /failed to load: syntax error\n\s+.*app\d+\.ts:1:\d+: Unexpected ;/],
  ["no default export", `export const x = 1;\n`, /does not default-export an app/],
  ["default without fetch", `export default { get() {} };\n`, /does not default-export an app/],
  ["start is not a function", `export const start = 5;\nexport default { fetch: () => new Response("") };\n`, /the `start` export must be a function/],
  ["start hook throws", `export async function start() { throw new TypeError("cache cold"); }\nexport default { fetch: () => new Response("") };\n`, /start hook failed: TypeError: cache cold/],
  ["missing import", `import { x } from "./does-not-exist.ts";\nexport default { fetch: () => new Response(String(x)) };\n`, /failed to load: .*does-not-exist/],
];
for (const [name, source, message] of failures) {
  test(`fails clearly: ${name}`, async () => {
    const path = entry(source);
    const err = await loadApp(path).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(message);
    expect(err?.message.startsWith(path)).toBe(true);
  });
}
