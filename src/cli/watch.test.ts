import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeChange, ignored, watchTree } from "./watch.ts";
import { checkSyntax, formatSyntaxProblem } from "./syntax.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

test("ignored: dependencies, hidden dirs, the runtime dir, output files and editor scratch files", () => {
  const root = "/app";
  const ign = (rel: string) => ignored(rel, root, ["/app/run"]);
  expect(ign("node_modules/hono/index.js")).toBe(true);
  expect(ign(".git/index")).toBe(true);
  expect(ign(".idea/workspace.xml")).toBe(true);
  expect(ign("run/state/demo.bin")).toBe(true);
  expect(ign("server.log")).toBe(true);
  expect(ign("src/.app.ts.swp")).toBe(true);
  expect(ign("src/app.ts~")).toBe(true);
  expect(ign("4913")).toBe(true);
  expect(ign("dev.out")).toBe(true); // `npm run dev > dev.out` must not reload forever
  expect(ign("pids/app.pid")).toBe(true);
  expect(ign(".env.local")).toBe(false);
  expect(ign("sql/users.SQL")).toBe(false);
  expect(ign("src/app.ts")).toBe(false);
  expect(ign(".env")).toBe(false);
  expect(ign("views/index.html")).toBe(false);
  expect(ign("runner.ts")).toBe(false); // a prefix of the runtime dir's name is not inside it
});

test("a burst of writes (one save) is reported once, ignored files not at all", async () => {
  const root = mkdtempSync(join(tmpdir(), "lf-watch-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "src"));
  mkdirSync(join(root, "node_modules"));
  const batches: string[][] = [];
  const w = watchTree({ root, debounceMs: 80, onChange: (files) => batches.push(files) });
  cleanups.push(() => w.close());
  await Bun.sleep(50);
  for (let i = 0; i < 5; i++) writeFileSync(join(root, "src", "app.ts"), `export const v = ${i};\n`);
  writeFileSync(join(root, "node_modules", "x.js"), "1");
  writeFileSync(join(root, "debug.log"), "1");
  for (let i = 0; i < 100 && batches.length === 0; i++) await Bun.sleep(20);
  await Bun.sleep(200); // nothing more may arrive
  expect(batches).toEqual([["src/app.ts"]]);
  expect(describeChange(["a.ts", "b.ts", "c.ts"])).toBe("a.ts and 2 more");
});

test("syntax check: file, line, column and the line itself; valid files pass", () => {
  const root = mkdtempSync(join(tmpdir(), "lf-syntax-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const bad = join(root, "app.ts");
  writeFileSync(bad, 'export default {\n  fetch: () => new Response("x"\n};\n');
  const p = checkSyntax(bad)!;
  expect(p).toMatchObject({ line: 3, column: 1 });
  expect(p.message).toContain('Expected ")"');
  expect(formatSyntaxProblem(p, "app.ts")).toStartWith('app.ts:3:1: Expected ")"');
  writeFileSync(bad, "export const ok: number = 1;\n");
  expect(checkSyntax(bad)).toBeUndefined();
  expect(checkSyntax(join(root, "gone.ts"))).toBeUndefined();
  expect(checkSyntax(join(root, "README.md"))).toBeUndefined();
});
