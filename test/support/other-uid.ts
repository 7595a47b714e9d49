// Running something as another uid (65534, "nobody") from a test that runs as root. That uid
// must be able to reach what it executes: a checkout under a private directory (root's 0700
// home, a 0700 CI workspace) is closed to it, and so are this repo's bun (node_modules/bun/bin)
// and bin/liveframe.ts. So a test gets a copy in a fresh world-readable temp dir: bun as a hard
// link (a copy when /tmp is another file system) and the CLI bundled into one file by Bun.build
// (it then needs nothing from the checkout: zod and the sources are inside).
import { chmodSync, copyFileSync, linkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** nobody: exists on every Linux, owns nothing. */
export const OTHER_UID = 65534;

/** Only root can start a process as another uid. */
export const IS_ROOT = process.getuid?.() === 0;

const CLI_SOURCE = new URL("../../bin/liveframe.ts", import.meta.url).pathname;

export interface Reachable {
  /** A bun any uid may execute. */
  bun: string;
  /** bin/liveframe.ts bundled into one file any uid may read (built on first use). */
  cli(): Promise<string>;
  dir: string;
}

/**
 * A temp dir (0755) with a bun any uid can run; `cleanups` removes it after the test. Costs a
 * hard link normally, one copy of bun (~100 MB) when /tmp is on another file system.
 */
export function reachableBun(cleanups: (() => unknown)[]): Reachable {
  const dir = mkdtempSync(join(tmpdir(), "lf-other-uid-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const bun = join(dir, "bun");
  try {
    linkSync(process.execPath, bun);
  } catch {
    copyFileSync(process.execPath, bun);
  }
  chmodSync(bun, 0o755);
  let built: Promise<string> | undefined;
  const cli = () =>
    (built ??= (async () => {
      const out = await Bun.build({ entrypoints: [CLI_SOURCE], target: "bun", outdir: dir, naming: "liveframe.js" });
      if (!out.success) throw new Error(`bundling ${CLI_SOURCE} failed: ${out.logs.map(String).join("\n")}`);
      const path = join(dir, "liveframe.js");
      chmodSync(path, 0o644);
      return path;
    })());
  return { bun, cli, dir };
}

/** The argv prefix that runs a command as OTHER_UID (util-linux setpriv; root only). */
export const AS_OTHER_UID = ["setpriv", `--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, "--clear-groups"];
