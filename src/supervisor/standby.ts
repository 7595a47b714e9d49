// What a standby process was started with, so that one started before a change is never used
// after it. A standby imported liveframe's runtime (its own files, zod) when it was spawned,
// and Bun read bunfig.toml, package.json and tsconfig.json then; the generation it becomes
// must behave exactly like one spawned at reload time, as before standbys existed.
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** liveframe's own package root (this file is src/supervisor/standby.ts). */
const PACKAGE_ROOT = new URL("../../", import.meta.url).pathname;
/** The runtime a generation imports before the app: liveframe's sources. */
const RUNTIME_DIRS = ["src", "ffi"].map((d) => join(PACKAGE_ROOT, d));
/** Files that change how Bun loads code, looked up beside the app and in the working dir. */
const LOADER_CONFIG = ["bunfig.toml", "package.json", "tsconfig.json"];

/** The env a process gets, as a comparable string (order-independent). */
export function envKey(env: Record<string, string | undefined>): string {
  return JSON.stringify(
    Object.entries(env)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * Size and mtime of every runtime source file, of zod's package.json (an upgrade replaces it),
 * and of the loader config beside the app and in the working dir. About a hundred stat(2)
 * calls: well under a millisecond.
 */
export function runtimeFingerprint(entry: string): string {
  const parts: string[] = [];
  const add = (path: string) => {
    try {
      const st = statSync(path);
      parts.push(`${path}:${st.size}:${st.mtimeMs}:${st.ino}`);
    } catch {
      parts.push(`${path}:-`);
    }
  };
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) add(path);
    }
  };
  for (const d of RUNTIME_DIRS) walk(d);
  add(join(PACKAGE_ROOT, "package.json"));
  try {
    add(Bun.resolveSync("zod/package.json", PACKAGE_ROOT));
  } catch {
    parts.push("zod:-");
  }
  for (const dir of new Set([process.cwd(), dirname(entry)])) for (const f of LOADER_CONFIG) add(join(dir, f));
  return parts.join("\n");
}

/** The first file whose fingerprint line differs ("a file" if none can be named). */
export function changedFile(before: string, now: string): string {
  const a = before.split("\n");
  const b = now.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return (a[i] ?? b[i] ?? "a file").replace(/:[^:]*:[^:]*:[^:]*$|:-$/, "");
  }
  return "a file";
}
