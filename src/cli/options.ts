// The one schema of server options, shared by the flags of `start`/`dev` and by
// liveframe.config.ts|json. Keys are camelCase; each flag is the kebab-case of its key
// (`drainTimeout` ↔ `--drain-timeout`). Durations are in seconds, as operators type them.
import { z } from "zod";
import { encodeSockAddr } from "../../ffi/index.ts";
import { serverOptionsSchema } from "../http/index.ts";
import { metricsAddressSchema } from "../metrics/index.ts";
import { MAX_WORKERS } from "../supervisor/types.ts";
import { type FlagSpec, keyToFlag } from "./args.ts";

/** Where Hono and Bun examples serve; `npm run dev` in this repo serves http://localhost:3000. */
export const DEFAULT_PORT = 3000;
/** Every IPv4 interface: what a container or a VM behind a proxy needs. */
export const DEFAULT_HOST = "0.0.0.0";
/** nginx's and Node's default accept backlog; the kernel caps it at net.core.somaxconn. */
export const DEFAULT_BACKLOG = 511;
/** Beside the app, ignored by git (.gitignore of every template): control socket and state. */
export const DEFAULT_RUNTIME_DIR = "./.liveframe";
/** Long enough for slow uploads and downloads to finish, short enough that a deploy never hangs. */
export const DEFAULT_DRAIN_TIMEOUT_S = 30;
/** An app's start hook may warm caches or open pools; matches `reload --timeout`'s default. */
export const DEFAULT_READY_TIMEOUT_S = 60;
/** One process, as before --workers existed: more is a sizing decision (docs/deploy.md). */
export const DEFAULT_WORKERS = 1;
/**
 * One SO_REUSEPORT socket per worker slot: the kernel spreads connections over the workers. With
 * one shared listener, keep-alive clients that connect at once can all land on one worker and
 * stay there (measured: 0%/100% under wrk -c64 on a CPU-bound route, so 2 workers served 1.11x
 * one worker's req/s, against 1.69x with reuseport in the same run; docs/deploy.md).
 */
export const DEFAULT_SPREAD = "reuseport";

const WORKERS_EXPECTED = `expected a whole number of worker processes from 1 to ${MAX_WORKERS}, or "auto" (the CPUs this process may use)`;

const seconds = (what: string) =>
  z
    .number({ error: `expected a number of seconds for ${what}` })
    .positive({ error: "expected a number of seconds greater than 0" })
    .max(86_400, { error: "expected at most 86400 seconds (one day)" });

/**
 * The engine's limits (src/http serverOptionsSchema), without their defaults: an option the
 * user did not give must stay absent so that flags can override the config file and the
 * engine applies its own defaults.
 */
const engineShape = Object.fromEntries(
  Object.entries(serverOptionsSchema.shape).map(([key, schema]) => [key, schema.unwrap()]),
) as { [K in keyof typeof serverOptionsSchema.shape]: ReturnType<(typeof serverOptionsSchema.shape)[K]["unwrap"]> };

/** Keys of the engine's limits, passed to every generation as SupervisorOptions.server. */
export const ENGINE_OPTION_KEYS = Object.keys(serverOptionsSchema.shape) as (keyof typeof engineShape)[];
const ENGINE_DEFAULTS = serverOptionsSchema.parse({}) as Record<string, unknown>;

/** What each engine limit does, for --help (the engine documents the reasons for its defaults). */
const ENGINE_HELP: Record<string, string> = {
  maxHeaderBytes: "request line + headers, bytes (431 beyond)",
  maxHeaderCount: "header fields per request (431 beyond)",
  maxBodyBytes: "request body, bytes (413 beyond)",
  maxUrlLength: "request target length (414 beyond)",
  headersTimeoutMs: "ms to receive a request's headers (408 after)",
  requestTimeoutMs: "ms to receive a whole request (408 after)",
  keepAliveTimeoutMs: "ms an idle keep-alive connection stays open",
  maxPipelineBytes: "bytes of pipelined requests read ahead while a response is pending",
};

const HOST_EXPECTED = "expected a numeric IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1, :: or ::1 (or localhost); host names are not resolved";

/** What the listener can bind (ffi encodeSockAddr): checked here so a bad --host is a usage error, before anything starts. */
function isListenAddress(host: string): boolean {
  try {
    encodeSockAddr(host, 0);
    return true;
  } catch {
    return false;
  }
}

export const cliOptionsSchema = z
  .object({
    ...engineShape,
    entry: z
      .string({ error: "expected the path of the app module, e.g. \"src/app.ts\"" })
      .min(1, { error: "expected a non-empty path" })
      .describe("the module that default-exports the app (anything with fetch)"),
    port: z
      .number({ error: "expected a port number from 0 to 65535" })
      .int({ error: "expected a whole port number from 0 to 65535" })
      .min(0, { error: "expected a port number from 0 to 65535" })
      .max(65535, { error: "expected a port number from 0 to 65535" })
      .describe(`TCP port to listen on; 0 picks a free one (default ${DEFAULT_PORT})`),
    host: z
      .string({ error: HOST_EXPECTED })
      .refine(isListenAddress, { error: HOST_EXPECTED })
      .describe(`address to listen on; "::" is IPv4 + IPv6 (default ${DEFAULT_HOST})`),
    backlog: z
      .number({ error: "expected a whole number from 1 to 65535" })
      .int({ error: "expected a whole number from 1 to 65535" })
      .min(1, { error: "expected a whole number from 1 to 65535" })
      .max(65535, { error: "expected a whole number from 1 to 65535" })
      .describe(`accept queue length (default ${DEFAULT_BACKLOG})`),
    runtimeDir: z
      .string({ error: "expected a directory path" })
      .min(1, { error: "expected a non-empty directory path" })
      .describe(`control socket and state files (default ${DEFAULT_RUNTIME_DIR})`),
    drainTimeout: seconds("drainTimeout").describe(
      `seconds an old generation may finish in-flight requests before they are cut (default ${DEFAULT_DRAIN_TIMEOUT_S})`,
    ),
    timeout: seconds("timeout").describe(
      `seconds a new generation may take to become ready (default ${DEFAULT_READY_TIMEOUT_S})`,
    ),
    health: z
      .boolean({ error: "expected true or false" })
      .describe("answer GET /__liveframe/health (200 when the generation is ready)"),
    metrics: metricsAddressSchema.describe(
      "serve Prometheus metrics at http://ADDR/metrics from the supervisor: HOST:PORT, [IPv6]:PORT, or PORT on 127.0.0.1 (off by default)",
    ),
    workers: z
      .union(
        [
          z
            .number({ error: WORKERS_EXPECTED })
            .int({ error: WORKERS_EXPECTED })
            .min(1, { error: WORKERS_EXPECTED })
            .max(MAX_WORKERS, { error: WORKERS_EXPECTED }),
          z.literal("auto", { error: WORKERS_EXPECTED }),
        ],
        { error: WORKERS_EXPECTED },
      )
      .describe(`worker processes per generation, sharing the listener and state; "auto": one per usable CPU (default ${DEFAULT_WORKERS})`),
    spread: z
      .enum(["shared", "reuseport"], { error: 'expected "shared" (every worker accepts on one listener) or "reuseport" (one SO_REUSEPORT socket per worker)' })
      .describe(`with --workers: "shared" listener or one "reuseport" socket per worker (default ${DEFAULT_SPREAD}; docs/deploy.md)`),
  })
  .strict();

export type CliOptionsInput = z.input<typeof cliOptionsSchema>;
export type CliOptionKey = keyof typeof cliOptionsSchema.shape;

/** Defaults applied after config and flags: named constants above, so help can show them. */
export const OPTION_DEFAULTS = {
  port: DEFAULT_PORT,
  host: DEFAULT_HOST,
  backlog: DEFAULT_BACKLOG,
  runtimeDir: DEFAULT_RUNTIME_DIR,
  drainTimeout: DEFAULT_DRAIN_TIMEOUT_S,
  timeout: DEFAULT_READY_TIMEOUT_S,
  health: false,
  workers: DEFAULT_WORKERS as number | "auto",
  spread: DEFAULT_SPREAD as "shared" | "reuseport",
} as const;

function flagType(zodType: string): FlagSpec["type"] {
  return zodType === "boolean" ? "boolean" : zodType === "string" ? "string" : "number";
}

/** The flags of `start` and `dev` that set options (entry is the positional argument). */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  { name: "port", short: "p", type: "number", value: "N", help: cliOptionsSchema.shape.port.description! },
  { name: "host", short: "H", type: "string", value: "ADDR", help: cliOptionsSchema.shape.host.description! },
  { name: "backlog", type: "number", value: "N", help: cliOptionsSchema.shape.backlog.description! },
  {
    name: "drain-timeout",
    type: "number",
    value: "S",
    help: cliOptionsSchema.shape.drainTimeout.description!,
  },
  { name: "timeout", type: "number", value: "S", help: cliOptionsSchema.shape.timeout.description! },
  { name: "health", type: "boolean", help: cliOptionsSchema.shape.health.description! },
  { name: "metrics", type: "string", value: "ADDR", help: cliOptionsSchema.shape.metrics.description! },
  { name: "workers", type: "number", value: "N|auto", help: cliOptionsSchema.shape.workers.description! },
  { name: "spread", type: "string", value: "HOW", help: cliOptionsSchema.shape.spread.description! },
  ...ENGINE_OPTION_KEYS.map(
    (key): FlagSpec => ({
      name: keyToFlag(key),
      type: flagType((engineShape[key] as z.ZodType).type),
      value: "N",
      help: `${ENGINE_HELP[key] ?? key} (default ${String(ENGINE_DEFAULTS[key])})`,
    }),
  ),
];
