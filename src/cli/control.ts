// What reload/status/stop share: finding the running server's runtime dir (flag, else the
// config file, else ./.liveframe) and turning "nobody there" into exit code 3, "not yours" into 77.
import { resolve } from "node:path";
import type { ParsedArgs } from "./args.ts";
import type { CliContext } from "./command.ts";
import { configRuntimeDir } from "./config.ts";
import { DEFAULT_RUNTIME_DIR } from "./options.ts";
import { CliError, ExitCode, UsageError } from "./exit-codes.ts";
import { ControlError, sendControl } from "./supervisor-link.ts";

export async function runtimeDirFor(args: ParsedArgs, ctx: CliContext): Promise<string> {
  const flag = args.flags.get("runtime-dir");
  if (typeof flag === "string") return resolve(ctx.cwd, flag);
  const fromConfig = await configRuntimeDir(ctx.cwd, (message) =>
    ctx.err(`${ctx.errColor.yellow("liveframe: warning:")} ${message}`),
  );
  return fromConfig ?? resolve(ctx.cwd, DEFAULT_RUNTIME_DIR);
}

/** Sends one control request; maps a missing or dead server to exit code 3, no permission to 77. */
export async function control(
  runtimeDir: string,
  req: Parameters<typeof sendControl>[1],
  timeoutMs?: number,
): Promise<unknown> {
  try {
    return await sendControl(runtimeDir, req, { timeoutMs });
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (!(e instanceof ControlError)) throw new CliError(message, ExitCode.failed);
    switch (e.kind) {
      case "not-running":
        throw notRunning(runtimeDir, e.detail);
      case "denied":
        throw new CliError(message, ExitCode.denied);
      case "timeout":
        throw new CliError(message, ExitCode.timeout);
      default:
        throw new CliError(message, ExitCode.failed);
    }
  }
}

function notRunning(runtimeDir: string, why: string): CliError {
  return new CliError(
    `no liveframe server is running on ${runtimeDir} (${why}): start one with liveframe start, or pass the --runtime-dir it was started with`,
    ExitCode.notRunning,
  );
}

/** `--timeout S` of reload/status/stop: seconds, > 0; undefined when not given. */
export function timeoutFlag(args: ParsedArgs): number | undefined {
  const t = args.flags.get("timeout");
  if (t === undefined) return undefined;
  if (typeof t !== "number" || !Number.isFinite(t) || t <= 0) {
    throw new UsageError(`--timeout ${JSON.stringify(t)}: expected a number of seconds greater than 0`);
  }
  return t;
}
