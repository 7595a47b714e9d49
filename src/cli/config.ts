// liveframe.config.ts|js|mjs|json: the same options as the flags of `start` and `dev`,
// validated by the same zod schema. Flags override the file; relative paths in the file are
// relative to the file, relative paths on the command line to the working directory.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import { usableCpus } from "../supervisor/cpus.ts";
import { MAX_WORKERS } from "../supervisor/types.ts";
import { UsageError } from "./exit-codes.ts";
import { cliOptionsSchema, type CliOptionsInput, ENGINE_OPTION_KEYS, OPTION_DEFAULTS } from "./options.ts";
import { keyToFlag } from "./args.ts";
import { closest } from "./suggest.ts";
import { type MetricsAddress, parseMetricsAddress } from "../metrics/index.ts";

/** Looked up in the working directory, in this order; the first that exists is used. */
export const CONFIG_FILES = [
  "liveframe.config.ts",
  "liveframe.config.js",
  "liveframe.config.mjs",
  "liveframe.config.json",
] as const;

/** What a config file may contain: every option is optional. */
export type LiveframeConfig = Partial<CliOptionsInput>;

export interface LoadedConfig {
  readonly path: string;
  readonly values: LiveframeConfig;
}

/** Where a set of options came from, for error messages. */
export type OptionSource = { kind: "flags" } | { kind: "config"; path: string };

const partialSchema = cliOptionsSchema.partial().strict();

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function show(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** One line per problem, naming the key (or flag), the value given and what is expected. */
export function describeIssues(error: z.ZodError, input: unknown, source: OptionSource): string {
  const known = Object.keys(cliOptionsSchema.shape);
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const guess = closest(key, known);
        const hint = guess ? `did you mean "${guess}"?` : `known keys: ${known.join(", ")}`;
        lines.push(
          source.kind === "config"
            ? `${basename(source.path)}: unknown key "${key}": ${hint}`
            : `unknown option --${keyToFlag(key)}: ${hint}`,
        );
      }
      continue;
    }
    const key = issue.path.map(String).join(".");
    const value = show(valueAt(input, issue.path));
    lines.push(
      source.kind === "config"
        ? `${basename(source.path)}: "${key}" is ${value}: ${issue.message}`
        : `--${keyToFlag(key)} ${value}: ${issue.message}`,
    );
  }
  return lines.join("\n");
}

/** Validates options from one source; throws a UsageError that names every bad key. */
export function validateOptions(input: unknown, source: OptionSource): LiveframeConfig {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    const where = source.kind === "config" ? basename(source.path) : "options";
    throw new UsageError(`${where}: expected an object of options (e.g. { "port": 3000 }), got ${show(input)}`);
  }
  const result = partialSchema.safeParse(input);
  if (!result.success) throw new UsageError(describeIssues(result.error, input, source));
  return result.data;
}

/** Finds the config file: `explicit` if given (must exist), else the first of CONFIG_FILES in `cwd`. */
function findConfig(cwd: string, explicit?: string): string | undefined {
  if (explicit === undefined) return CONFIG_FILES.map((f) => resolve(cwd, f)).find((p) => existsSync(p));
  const path = resolve(cwd, explicit);
  if (!existsSync(path)) {
    throw new UsageError(`config file ${explicit} not found (looked at ${path}): check the path given to --config`);
  }
  return path;
}

/** The config file's default export (or JSON), not yet validated. */
async function readConfig(path: string): Promise<unknown> {
  if (path.endsWith(".json")) {
    try {
      return JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new UsageError(`${basename(path)}: not valid JSON: ${(e as Error).message}`);
    }
  }
  let raw: unknown;
  try {
    const mod = (await import(path)) as { default?: unknown };
    raw = mod.default;
  } catch (e) {
    throw new UsageError(`${basename(path)}: failed to load: ${(e as Error).message}`);
  }
  if (raw === undefined) {
    throw new UsageError(`${basename(path)}: no default export: write \`export default { port: 3000 }\``);
  }
  return raw;
}

/** Finds and loads the config file: `explicit` if given (must exist), else the first of CONFIG_FILES in `cwd`. */
export async function loadConfig(cwd: string, explicit?: string): Promise<LoadedConfig | undefined> {
  const path = findConfig(cwd, explicit);
  if (path === undefined) return undefined;
  return { path, values: validateOptions(await readConfig(path), { kind: "config", path }) };
}

/**
 * The runtime dir named by the config file in `cwd` (absolute), or undefined when there is no
 * file or it names none. reload/status/stop need only this key: a mistake in any other key
 * (a typo in drainTimeout) must not keep an operator from stopping a running server, so the
 * other keys are neither read nor validated. A file that cannot be read at all, or whose
 * runtimeDir is invalid, is reported through `warn` and ignored (the default dir is used).
 */
export async function configRuntimeDir(cwd: string, warn: (message: string) => void): Promise<string | undefined> {
  const path = findConfig(cwd);
  if (path === undefined) return undefined;
  let raw: unknown;
  try {
    raw = await readConfig(path);
  } catch (e) {
    warn(`${(e as Error).message}; ignoring it here and using ${OPTION_DEFAULTS.runtimeDir} (pass --runtime-dir to choose)`);
    return undefined;
  }
  const value = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>).runtimeDir : undefined;
  if (value === undefined) return undefined;
  const r = cliOptionsSchema.shape.runtimeDir.safeParse(value);
  if (!r.success) {
    warn(
      `${basename(path)}: "runtimeDir" is ${show(value)}: ${r.error.issues[0]?.message ?? "invalid"}; using ${OPTION_DEFAULTS.runtimeDir} (pass --runtime-dir to choose)`,
    );
    return undefined;
  }
  return isAbsolute(r.data) ? r.data : resolve(dirname(path), r.data);
}

export interface ResolvedOptions {
  /** Absolute path of the app module, when one was named (flag, config). */
  readonly entry?: string;
  readonly port: number;
  readonly host: string;
  readonly backlog: number;
  /** Absolute. */
  readonly runtimeDir: string;
  readonly drainTimeoutMs: number;
  readonly readyTimeoutMs: number;
  readonly health: boolean;
  /** Where the supervisor serves /metrics (--metrics), when it does. */
  readonly metrics?: MetricsAddress;
  /** Worker processes per generation ("auto" resolved to the CPUs this process may use). */
  readonly workers: number;
  /** How connections reach the workers: one shared listener, or one reuseport socket per worker. */
  readonly spread: "shared" | "reuseport";
  /** Engine limits the user set (flags or config); the engine defaults the rest. */
  readonly server: Record<string, unknown>;
  /** The config file used, if any. */
  readonly configPath?: string;
}

/** Defaults < config file < flags. Paths made absolute against their own source. */
export function resolveOptions(flags: LiveframeConfig, config: LoadedConfig | undefined, cwd: string): ResolvedOptions {
  const fromConfig = config?.values ?? {};
  const configDir = config ? dirname(config.path) : cwd;
  const pick = <K extends keyof LiveframeConfig>(key: K) =>
    flags[key] !== undefined
      ? { value: flags[key], base: cwd }
      : fromConfig[key] !== undefined
        ? { value: fromConfig[key], base: configDir }
        : undefined;
  const path = (p: { value: unknown; base: string } | undefined, fallback?: string): string | undefined => {
    const v = (p?.value as string | undefined) ?? fallback;
    if (v === undefined) return undefined;
    return isAbsolute(v) ? v : resolve(p?.base ?? cwd, v);
  };
  const merged = { ...OPTION_DEFAULTS, ...fromConfig, ...flags };
  return {
    entry: path(pick("entry")),
    port: merged.port,
    host: merged.host,
    backlog: merged.backlog,
    runtimeDir: path(pick("runtimeDir"), OPTION_DEFAULTS.runtimeDir)!,
    drainTimeoutMs: Math.round(merged.drainTimeout * 1000),
    readyTimeoutMs: Math.round(merged.timeout * 1000),
    health: merged.health,
    ...metricsOption(merged.metrics),
    workers: merged.workers === "auto" ? Math.min(usableCpus(), MAX_WORKERS) : merged.workers,
    spread: merged.spread,
    server: Object.fromEntries(
      ENGINE_OPTION_KEYS.filter((k) => merged[k] !== undefined).map((k) => [k, merged[k]]),
    ),
    configPath: config?.path,
  };
}

/** The validated `metrics` option as an address (the schema has checked it parses). */
function metricsOption(value: string | number | undefined): { metrics?: MetricsAddress } {
  if (value === undefined) return {};
  const parsed = parseMetricsAddress(value);
  if (typeof parsed === "string") throw new UsageError(`--metrics ${String(value)}: ${parsed}`);
  return { metrics: parsed };
}
