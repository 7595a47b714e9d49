// What `start` and `dev` share: options from flags + config, the entry, systemd, and running
// the supervisor in the foreground until it exits.
import { relative } from "node:path";
import { type FlagValue, flagToKey, type ParsedArgs } from "./args.ts";
import type { CliContext } from "./command.ts";
import { type LiveframeConfig, loadConfig, type ResolvedOptions, resolveOptions, validateOptions } from "./config.ts";
import { checkEntry, DEMO_ENTRY, findApp, noAppError } from "./entry.ts";
import { describeEvent } from "./events.ts";
import { CliError, ExitCode } from "./exit-codes.ts";
import { startSupervisor, type Supervisor, type SupervisorEvent } from "./supervisor-link.ts";
import { listenFdsFromEnv, notifyOnEvent, SystemdNotifier } from "../supervisor/systemd.ts";

export interface ServePlan {
  readonly options: ResolvedOptions;
  /** Absolute path of the module to serve. */
  readonly entry: string;
  /** True when `dev` fell back to templates/demo. */
  readonly demo: boolean;
}

/** Flags of start/dev → option object keyed like the config file. */
export function optionsFromFlags(flags: ReadonlyMap<string, FlagValue>, positionals: readonly string[]): LiveframeConfig {
  const raw: Record<string, FlagValue> = {};
  for (const [name, value] of flags) {
    if (name === "config" || name === "help") continue;
    raw[flagToKey(name)] = value;
  }
  if (positionals[0] !== undefined) raw.entry = positionals[0];
  return validateOptions(raw, { kind: "flags" });
}

/**
 * `dev`'s drain timeout unless one is given: a save must not leave old generations holding a
 * stream for 30 s; a few seconds finish a normal request, and reloads never wait on it anyway.
 */
export const DEFAULT_DEV_DRAIN_TIMEOUT_S = 3;

export async function planServe(args: ParsedArgs, ctx: CliContext, command: "start" | "dev"): Promise<ServePlan> {
  const flags = optionsFromFlags(args.flags, args.positionals);
  const configFlag = args.flags.get("config");
  const config = await loadConfig(ctx.cwd, typeof configFlag === "string" ? configFlag : undefined);
  if (command === "dev" && flags.drainTimeout === undefined && config?.values.drainTimeout === undefined) {
    flags.drainTimeout = DEFAULT_DEV_DRAIN_TIMEOUT_S;
  }
  const options = resolveOptions(flags, config, ctx.cwd);
  if (options.entry !== undefined) return { options, entry: checkEntry(options.entry, ctx.cwd), demo: false };
  const found = findApp(ctx.cwd);
  if (found) return { options, entry: found, demo: false };
  if (command === "dev") return { options, entry: DEMO_ENTRY, demo: true };
  throw noAppError(ctx.cwd, command);
}

/** "http://localhost:3000" for a wildcard bind (what a browser can open), else the address. */
export function displayUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

export interface Running {
  readonly supervisor: Supervisor;
  readonly url: string;
  readonly port: number;
  /** Resolves to the exit code once the supervisor has stopped. */
  readonly exited: Promise<number>;
}

export interface RunHooks {
  /** Sees every event after it is logged. */
  onEvent?(e: SupervisorEvent): void;
  /** Return false to keep an event out of the log (dev prints its own line per reload). */
  logs?(e: SupervisorEvent): boolean;
}

/**
 * Starts the supervisor for `plan`, speaking sd_notify when NOTIFY_SOCKET is set and adopting
 * systemd's sockets when LISTEN_FDS is.
 */
export async function runSupervisor(plan: ServePlan, ctx: CliContext, hooks: RunHooks = {}): Promise<Running> {
  const { options } = plan;
  const env = ctx.env as Record<string, string | undefined>;
  let notifier: SystemdNotifier | undefined;
  try {
    notifier = SystemdNotifier.fromEnv(env, ctx.err);
  } catch (e) {
    // Serving matters more than telling systemd about it; say why it will not hear from us.
    ctx.err(ctx.errColor.yellow(`liveframe: warning: cannot reach systemd (${(e as Error).message}); serving without sd_notify`));
  }
  const listenFds = listenFdsFromEnv(env);
  const notify = notifier ? notifyOnEvent(notifier) : undefined;
  let supervisor: Supervisor;
  try {
    supervisor = await startSupervisor({
      entry: plan.entry,
      port: options.port,
      hostname: options.host,
      backlog: options.backlog,
      runtimeDir: options.runtimeDir,
      drainTimeoutMs: options.drainTimeoutMs,
      readyTimeoutMs: options.readyTimeoutMs,
      server: options.server,
      ...(listenFds ? { listenFds } : {}),
      health: options.health,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.workers > 1 ? { workers: options.workers, spread: options.spread } : {}),
      onEvent: (e) => {
        const line = hooks.logs?.(e) === false ? undefined : describeEvent(e, ctx.color);
        if (line) ctx.out(`liveframe: ${line}`);
        notify?.(e);
        hooks.onEvent?.(e);
      },
    });
  } catch (e) {
    notifier?.close();
    const rel = relative(ctx.cwd, plan.entry);
    const shown = rel && !rel.startsWith("..") ? rel : plan.entry;
    const error = new CliError(`could not start ${shown}: ${(e as Error).message}`, ExitCode.failed);
    error.cause = e;
    throw error;
  }
  const status = supervisor.status();
  const listener = status.listeners[0];
  const port = listener?.port ?? options.port;
  const url = displayUrl(listener?.address ?? options.host, port);
  ctx.out(
    `liveframe: listening on ${ctx.color.bold(url)} (supervisor pid ${status.supervisorPid}, generation ${status.generation} ${
      (status.workerPids?.length ?? 1) > 1 ? `worker pids ${status.workerPids!.join(" ")}` : `pid ${status.generationPid}`
    })`,
  );
  if (status.metricsUrl) ctx.out(`liveframe: metrics on ${ctx.color.bold(status.metricsUrl)}`);
  const exited = supervisor.exited.finally(() => notifier?.close());
  return { supervisor, url, port, exited };
}
