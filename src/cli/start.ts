// `liveframe start [entry]`: the supervisor in the foreground, made for systemd and containers.
import { SERVER_FLAGS } from "./options.ts";
import { type Command, CONFIG_FLAG, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { planServe, runSupervisor } from "./serve.ts";

export const startCommand: Command = {
  spec: {
    name: "start",
    summary: "run the app under a supervisor in the foreground (logs on stdout/stderr)",
    positionals: [{ name: "entry", help: "module that default-exports the Hono app (default: app.ts, src/app.ts, server.ts or src/server.ts)" }],
    flags: [...SERVER_FLAGS, RUNTIME_DIR_FLAG, CONFIG_FLAG, HELP_FLAG],
    description:
      "Binds the port (or adopts systemd's sockets from LISTEN_FDS), starts generation 1 and waits until it is ready.\n" +
      "Reload with `liveframe reload` or SIGHUP; stop gracefully with `liveframe stop`, SIGTERM or SIGINT.\n" +
      "With NOTIFY_SOCKET set it speaks sd_notify, so systemd's Type=notify-reload works.",
    examples: ["liveframe start src/app.ts --port 8080", "liveframe start --port 0 --runtime-dir /run/myapp app.ts"],
  },
  async run(args, ctx) {
    const plan = await planServe(args, ctx, "start");
    const running = await runSupervisor(plan, ctx);
    return running.exited;
  },
};
