// `liveframe stop`: graceful stop of the running supervisor (same as SIGTERM).
import { type Command, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { control, runtimeDirFor, timeoutFlag } from "./control.ts";
import { DEFAULT_STOP_TIMEOUT_MS } from "./supervisor-link.ts";
import { ExitCode } from "./exit-codes.ts";

export const stopCommand: Command = {
  spec: {
    name: "stop",
    summary: "stop accepting, let in-flight requests finish (up to the drain timeout), exit",
    positionals: [],
    flags: [
      {
        name: "timeout",
        short: "t",
        type: "number",
        value: "S",
        help: `seconds to wait until the server has stopped (default ${DEFAULT_STOP_TIMEOUT_MS / 1000}; more than its drain timeout); then exit 4`,
      },
      RUNTIME_DIR_FLAG,
      HELP_FLAG,
    ],
    examples: ["liveframe stop", "liveframe stop --runtime-dir /run/myapp"],
  },
  async run(args, ctx) {
    const timeout = timeoutFlag(args);
    const dir = await runtimeDirFor(args, ctx);
    await control(dir, { cmd: "stop" }, timeout === undefined ? undefined : timeout * 1000);
    ctx.out(`liveframe: stopped the server on ${dir}`);
    return ExitCode.ok;
  },
};
