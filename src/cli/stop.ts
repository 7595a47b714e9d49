// `liveframe stop`: graceful stop of the running supervisor (same as SIGTERM).
import { type Command, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { control, runtimeDirFor } from "./control.ts";
import { ExitCode } from "./exit-codes.ts";

export const stopCommand: Command = {
  spec: {
    name: "stop",
    summary: "stop accepting, let in-flight requests finish (up to the drain timeout), exit",
    positionals: [],
    flags: [RUNTIME_DIR_FLAG, HELP_FLAG],
    examples: ["liveframe stop", "liveframe stop --runtime-dir /run/myapp"],
  },
  async run(args, ctx) {
    const dir = await runtimeDirFor(args, ctx);
    await control(dir, { cmd: "stop" });
    ctx.out(`liveframe: stopped the server on ${dir}`);
    return ExitCode.ok;
  },
};
