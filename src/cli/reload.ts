// `liveframe reload`: ask the running supervisor for a new generation and wait for the outcome.
import { type Command, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { control, runtimeDirFor, timeoutFlag } from "./control.ts";
import { describeReload } from "./events.ts";
import { ExitCode } from "./exit-codes.ts";
import { DEFAULT_READY_TIMEOUT_S } from "./options.ts";
import type { ReloadOutcome, StatusReport } from "./supervisor-link.ts";

export const reloadCommand: Command = {
  spec: {
    name: "reload",
    summary: "start a new generation; it takes over the socket and every live connection",
    positionals: [],
    flags: [
      { name: "timeout", short: "t", type: "number", value: "S", help: "seconds the new generation may take to become ready (default: the server's own, `start --timeout`)" },
      { name: "json", type: "boolean", help: "print the outcome as JSON" },
      RUNTIME_DIR_FLAG,
      HELP_FLAG,
    ],
    description:
      "Returns once the new generation serves and the idle connections moved; requests still running\n" +
      "finish in the old generation in the background (up to --drain-timeout), and their connections follow.\n" +
      "Exits 0 only when the new generation took over. Otherwise exits 1 with the cause (the new generation's\n" +
      "error with file and line, its exit code, or 'not ready within S s'); the old generation kept serving.",
    examples: ["liveframe reload", "liveframe reload --timeout 10 --runtime-dir /run/myapp"],
  },
  async run(args, ctx) {
    const t = timeoutFlag(args);
    const dir = await runtimeDirFor(args, ctx);
    let outcome: ReloadOutcome;
    if (t !== undefined) outcome = (await control(dir, { cmd: "reload", timeoutMs: Math.round(t * 1000) })) as ReloadOutcome;
    else {
      // The server's own ready timeout applies; asked first so this side waits as long as it may.
      // (If it cannot be asked, the reload below says what is wrong.)
      let readyTimeoutMs: number | undefined;
      try {
        readyTimeoutMs = ((await control(dir, { cmd: "status" })) as StatusReport).readyTimeoutMs;
      } catch {
        readyTimeoutMs = undefined;
      }
      outcome = (await control(dir, { cmd: "reload" }, readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_S * 1000)) as ReloadOutcome;
    }
    if (args.flags.get("json") === true) ctx.out(JSON.stringify(outcome, null, 2));
    else if (outcome.ok) ctx.out(ctx.color.green(describeReload(outcome)));
    else ctx.err(ctx.errColor.red(describeReload(outcome)));
    return outcome.ok ? ExitCode.ok : ExitCode.failed;
  },
};
