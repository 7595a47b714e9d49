// Watches an app's source tree for `liveframe dev` and reports saves in batches: editors
// write a file in several steps (truncate, write, rename, chmod), and one save must cause
// exactly one reload.
import { type FSWatcher, watch } from "node:fs";
import { join, relative, sep } from "node:path";

/**
 * Quiet time after the last event before a batch is reported. Editors finish one save's
 * writes (truncate, write, rename, chmod) within a few ms; 30 ms merges them without making
 * the reload feel slower.
 */
export const WATCH_DEBOUNCE_MS = 30;

/** Directory names never watched: dependencies, VCS data, build output and caches. */
export const IGNORED_DIRS = new Set(["node_modules", ".git", ".hg", ".svn", ".liveframe", "dist", "build", "coverage", ".cache"]);

/**
 * Only files an app is made of cause a reload: code, config, and the text assets apps read
 * (templates, SQL, styles). Everything else is output (logs, `npm run dev > dev.out`, pid
 * files, state), and reloading on output would loop: each new generation writes it again.
 */
export const WATCHED_EXTENSIONS = new Set(
  [
    ...["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs", "json", "jsonc", "json5", "toml", "yaml", "yml"],
    ...["html", "htm", "css", "scss", "svg", "md", "sql", "graphql", "gql", "hbs", "ejs", "mustache", "njk", "eta", "liquid", "wasm"],
  ].map((e) => `.${e}`),
);

/** True for files `dev` reloads on: WATCHED_EXTENSIONS, and .env files (Bun loads them at start). */
export function isAppFile(name: string): boolean {
  if (name === ".env" || name.startsWith(".env.")) return true;
  const dot = name.lastIndexOf(".");
  return dot > 0 && WATCHED_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

/** Editor scratch files: vim's swap and 4913 probe, emacs locks and backups, JetBrains' ___jb_ files. */
export function isScratchFile(name: string): boolean {
  return (
    /\.(swp|swo|swx|tmp|temp)$/.test(name) ||
    name.endsWith("~") ||
    name === "4913" ||
    name.startsWith(".#") ||
    (name.startsWith("#") && name.endsWith("#")) ||
    name.includes("___jb_")
  );
}

export interface WatchOptions {
  readonly root: string;
  /** Absolute paths whose trees are ignored as well (the runtime dir). */
  readonly ignore?: readonly string[];
  readonly debounceMs?: number;
  /** Called with the changed paths relative to root, sorted, at most once per quiet period. */
  onChange(files: string[]): void;
  onError?(error: Error): void;
}

export interface TreeWatcher {
  close(): void;
}

/** True when `rel` (relative to the root) should not cause a reload. */
export function ignored(rel: string, root: string, ignore: readonly string[]): boolean {
  const parts = rel.split(sep);
  const name = parts[parts.length - 1] ?? "";
  // Hidden directories (.git, .idea, .vscode, …) never hold app code; hidden files (.env) may.
  if (parts.slice(0, -1).some((p) => IGNORED_DIRS.has(p) || p.startsWith("."))) return true;
  if (IGNORED_DIRS.has(name)) return true;
  if (isScratchFile(name) || !isAppFile(name)) return true;
  const abs = join(root, rel);
  return ignore.some((dir) => abs === dir || abs.startsWith(dir + sep));
}

export function watchTree(o: WatchOptions): TreeWatcher {
  const debounce = o.debounceMs ?? WATCH_DEBOUNCE_MS;
  const ignore = o.ignore ?? [];
  const pending = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: FSWatcher | undefined = watch(o.root, { recursive: true }, (_event, file) => {
    if (file === null || file === undefined) return;
    const rel = String(file);
    if (ignored(rel, o.root, ignore)) return;
    pending.add(rel);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const files = [...pending].sort();
      pending.clear();
      o.onChange(files);
    }, debounce);
  });
  watcher.on("error", (e) => o.onError?.(e instanceof Error ? e : new Error(String(e))));
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}

/** "src/app.ts", "src/app.ts and 2 more": what the dev log says changed. */
export function describeChange(files: readonly string[], root?: string): string {
  const shown = files.map((f) => (root ? relative(root, join(root, f)) : f));
  if (shown.length === 0) return "a file";
  if (shown.length === 1) return shown[0]!;
  return `${shown[0]} and ${shown.length - 1} more`;
}
