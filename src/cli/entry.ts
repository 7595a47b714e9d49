// Which module to serve: the one named on the command line or in the config, else an app found
// in the working directory by the templates' conventions, else (for `dev` only) the demo.
import { existsSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { UsageError } from "./exit-codes.ts";
import { PACKAGE_ROOT } from "./version.ts";

/**
 * Looked for in the working directory, in order. `index.ts` is deliberately absent: it is as
 * often a library's entry as an app's (it is liveframe's own), and serving a module that does
 * not default-export an app would fail with a less helpful message than "no app found".
 */
export const APP_CANDIDATES = ["app", "src/app", "server", "src/server"].flatMap((base) =>
  [".ts", ".tsx", ".js", ".mjs"].map((ext) => `${base}${ext}`),
);

/** What `liveframe dev` serves when there is no app: see templates/demo. */
export const DEMO_ENTRY = `${PACKAGE_ROOT}/templates/demo/app.ts`;

/** An app in `cwd` by the conventions above, or undefined. */
export function findApp(cwd: string): string | undefined {
  return APP_CANDIDATES.map((c) => resolve(cwd, c)).find((p) => existsSync(p) && statSync(p).isFile());
}

/** Checks that an entry the user named exists and is a file. */
export function checkEntry(path: string, cwd: string): string {
  if (!existsSync(path)) {
    throw new UsageError(
      `app module ${relative(cwd, path) || path} not found (looked at ${path}): pass the file that default-exports your Hono app, e.g. liveframe start src/app.ts`,
    );
  }
  if (!statSync(path).isFile()) {
    throw new UsageError(`app module ${path} is a directory: pass the file that default-exports your Hono app`);
  }
  return path;
}

export function noAppError(cwd: string, command: string): UsageError {
  return new UsageError(
    `no app to ${command}: none given and none of ${APP_CANDIDATES.filter((c) => c.endsWith(".ts")).join(", ")} in ${cwd}: pass it, e.g. liveframe ${command} src/app.ts (or create one with liveframe init)`,
  );
}
