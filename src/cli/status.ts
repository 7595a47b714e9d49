// `liveframe status`: what the running supervisor reports about itself.
import { type Command, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { control, runtimeDirFor, timeoutFlag } from "./control.ts";
import { describeReload } from "./events.ts";
import { ExitCode } from "./exit-codes.ts";
import { DEFAULT_STATUS_TIMEOUT_MS, type StatusReport } from "./supervisor-link.ts";

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export const statusCommand: Command = {
  spec: {
    name: "status",
    summary: "show the supervisor, the serving generation, listeners, connections and recent reloads",
    positionals: [],
    flags: [
      { name: "json", type: "boolean", help: "print JSON (supervisorPid, generation, generationPid, …)" },
      {
        name: "timeout",
        short: "t",
        type: "number",
        value: "S",
        help: `seconds to wait for the supervisor's answer (default ${DEFAULT_STATUS_TIMEOUT_MS / 1000}); then exit 4`,
      },
      RUNTIME_DIR_FLAG,
      HELP_FLAG,
    ],
    examples: ["liveframe status", "liveframe status --json | jq .generation"],
  },
  async run(args, ctx) {
    const timeout = timeoutFlag(args);
    const dir = await runtimeDirFor(args, ctx);
    const s = (await control(dir, { cmd: "status" }, timeout === undefined ? undefined : timeout * 1000)) as StatusReport;
    if (args.flags.get("json") === true) {
      ctx.out(JSON.stringify(s, null, 2));
      return ExitCode.ok;
    }
    const c = ctx.color;
    const phase = s.phase && s.phase !== "serving" ? c.yellow(`, ${s.phase}`) : "";
    ctx.out(`${c.bold("supervisor")}   pid ${s.supervisorPid}, up ${duration(s.uptimeMs)}, runtime dir ${dir}${phase}`);
    const restarts = s.restarts > 0 ? c.yellow(`, ${s.restarts} crash restart${s.restarts === 1 ? "" : "s"}`) : "";
    ctx.out(`${c.bold("generation")}   ${s.generation} (pid ${s.generationPid})${restarts}`);
    // Each worker of the serving generation (one line per slot with --workers N > 1).
    if ((s.workers?.length ?? 0) > 1) {
      for (const w of s.workers!) {
        const note = w.phase !== "serving" ? c.yellow(`, ${w.phase}`) : w.restarts > 0 ? c.yellow(`, ${w.restarts} restart${w.restarts === 1 ? "" : "s"}`) : "";
        ctx.out(`${c.bold("worker")} ${String(w.worker).padEnd(6)}pid ${w.pid} (generation ${w.generation}): ${w.connections} open connections, ${w.requests} requests served${note}`);
      }
    }
    for (const l of s.listeners) ctx.out(`${c.bold("listening")}    ${l.family} ${l.address}:${l.port}`);
    ctx.out(`${c.bold("standby")}      ${s.standbyPid ? `pid ${s.standbyPid} (runtime loaded, waiting for the next reload)` : "none ready"}`);
    ctx.out(`${c.bold("connections")}  ${s.connections}`);
    if (s.metricsUrl) ctx.out(`${c.bold("metrics")}      ${s.metricsUrl}`);
    for (const d of s.draining ?? []) {
      ctx.out(
        `${c.bold("draining")}     generation ${d.generation} (pid ${d.pid}): ${d.busy} busy of ${d.open} connections, ` +
          `cut at ${d.deadline.slice(11, 19)} UTC; late connections go to generation ${d.handingTo || "(none serves yet)"}`,
      );
    }
    if (s.reloads.length) {
      ctx.out(c.bold("recent reloads"));
      for (const r of s.reloads) ctx.out(`  ${r.ok ? c.green("ok  ") : c.red("fail")} ${describeReload(r)}`);
    }
    return ExitCode.ok;
  },
};
