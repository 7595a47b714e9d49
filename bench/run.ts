// `npm run bench` / `bun bench/run.ts [name [options…]]`: runs every benchmark bench/<name>/run.ts
// one after the other (they share the machine, so never in parallel); each prints its own table.
// Options go to the one named benchmark (e.g. `bun bench/run.ts http --rounds 5`).
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
const [only, ...rest] = process.argv.slice(2);
const names = readdirSync(dir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "run.ts")))
  .map((d) => d.name)
  .filter((n) => only === undefined || only.startsWith("--") || n === only)
  .sort();
if (names.length === 0) {
  console.error(`no benchmark named "${only}" under bench/: have ${readdirSync(dir).join(", ")}`);
  process.exit(2);
}
if (only?.startsWith("--")) {
  console.error(`options need a benchmark name first, e.g. bun bench/run.ts http ${only} …  (have: ${names.join(", ")})`);
  process.exit(2);
}
const passArgs = rest;
for (const name of names) {
  console.log(`\n== bench/${name} ==`);
  const r = Bun.spawnSync([process.execPath, join(dir, name, "run.ts"), ...passArgs], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    console.error(`bench/${name} failed (exit ${r.exitCode})`);
    process.exit(r.exitCode ?? 1);
  }
}
