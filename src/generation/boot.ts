// Loading the app in a new generation: import the entry, check it is an app, run its start
// hook. Every failure becomes one readable message (what failed, where, why) for the reload
// to report; nothing is taken from the old generation until this has succeeded.
import type { FetchApp } from "../http/index.ts";

export interface LoadedApp {
  app: FetchApp;
  /** The app's optional `stop` export: called once when this generation stops or hands over. */
  stop?: () => unknown;
  /** How long importing the entry took (the start hook not included). */
  importMs: number;
}

/** Imports `entry` and runs its optional `start` export. Throws an Error with a user-facing message. */
export async function loadApp(entry: string): Promise<LoadedApp> {
  let mod: Record<string, unknown>;
  const t0 = performance.now();
  try {
    mod = (await import(entry)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${entry} failed to load: ${describeError(err)}`);
  }
  const importMs = performance.now() - t0;
  const app = mod.default as FetchApp | undefined;
  if (!app || typeof (app as { fetch?: unknown }).fetch !== "function") {
    throw new Error(
      `${entry} does not default-export an app: add \`export default app\` (a Hono app, or any object with fetch(request))`,
    );
  }
  const start = mod.start;
  if (start !== undefined) {
    if (typeof start !== "function") throw new Error(`${entry}: the \`start\` export must be a function (the warm-up hook)`);
    try {
      await start();
    } catch (err) {
      throw new Error(`${entry}: start hook failed: ${describeError(err)}`);
    }
  }
  const stop = typeof mod.stop === "function" ? (mod.stop as () => unknown) : undefined;
  return { app: app as FetchApp, stop, importMs };
}

type SourcePosition = { file?: string; line?: number; column?: number; lineText?: string };
type Positioned = { message?: string; position?: SourcePosition | null };

/** `file:line:column: message` and the offending line, for one Bun build or resolve message. */
function atPosition(e: Positioned): string {
  const p = e.position;
  const at = p?.file ? `${p.file}:${p.line ?? "?"}:${p.column ?? "?"}: ` : "";
  return `${at}${e.message ?? String(e)}${p?.lineText ? `\n    ${p.lineText.trim()}` : ""}`;
}

/**
 * One line per problem, with file:line:column: Bun reports a syntax error as a BuildMessage
 * carrying `position` (one error) or an AggregateError of them (several); a thrown error has
 * its site in `stack`.
 */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && Array.isArray(err.errors) && err.errors.length > 0) {
    return `syntax error\n  ${err.errors.slice(0, 5).map(atPosition).join("\n  ")}`;
  }
  if (err !== null && typeof err === "object" && (err as Positioned).position?.file) {
    return `syntax error\n  ${atPosition(err as Positioned)}`;
  }
  if (err instanceof Error) {
    const site = err.stack
      ?.split("\n")
      .find((l) => l.trim().startsWith("at ") && !l.includes("/src/generation/"))
      ?.trim()
      .replace(/^at /, "");
    return `${err.name === "Error" ? "" : `${err.name}: `}${err.message}${site ? ` (at ${site})` : ""}`;
  }
  return String(err);
}
