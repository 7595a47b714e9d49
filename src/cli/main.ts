// `liveframe <command>`: finds the command, parses its flags, runs it, and turns every error a
// user can cause into one clear message and a documented exit code (exit-codes.ts).
import { parseArgs } from "./args.ts";
import { palette, useColor } from "./color.ts";
import type { CliContext, Command } from "./command.ts";
import { CliError, ExitCode, UsageError } from "./exit-codes.ts";
import { commandHelp, mainHelp } from "./help.ts";
import { lineWriter } from "./output.ts";
import { closest } from "./suggest.ts";
import { packageVersion } from "./version.ts";
import { devCommand } from "./dev.ts";
import { initCommand } from "./init.ts";
import { reloadCommand } from "./reload.ts";
import { startCommand } from "./start.ts";
import { statusCommand } from "./status.ts";
import { stopCommand } from "./stop.ts";

export const COMMANDS: readonly Command[] = [
  devCommand,
  startCommand,
  reloadCommand,
  statusCommand,
  stopCommand,
  initCommand,
];

export function processContext(noColor: boolean): CliContext {
  const env = process.env;
  return {
    cwd: process.cwd(),
    env,
    out: lineWriter(process.stdout),
    err: lineWriter(process.stderr),
    color: palette(useColor(process.stdout, env, noColor)),
    errColor: palette(useColor(process.stderr, env, noColor)),
    stdinIsTTY: process.stdin.isTTY === true,
  };
}

const wantsHelp = (argv: readonly string[]) => {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
};

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], makeContext = processContext): Promise<number> {
  const noColor = argv.includes("--no-color");
  const words = argv.filter((a) => a !== "--no-color");
  const ctx = makeContext(noColor);
  const version = packageVersion();
  try {
    const first = words[0];
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      const topic = first === "help" ? words[1] : undefined;
      const cmd = topic === undefined ? undefined : COMMANDS.find((c) => c.spec.name === topic);
      if (topic !== undefined && !cmd) throw unknownCommand(topic);
      ctx.out(cmd ? commandHelp(cmd.spec, ctx.color) : mainHelp(COMMANDS, version, ctx.color));
      return ExitCode.ok;
    }
    if (first === "--version" || first === "-v" || first === "-V" || first === "version") {
      ctx.out(`liveframe ${version} (bun ${Bun.version})`);
      return ExitCode.ok;
    }
    if (first.startsWith("-")) {
      const guess = closest(first, ["--help", "--version", "--no-color"]);
      throw new UsageError(
        `unknown flag ${first}: ${guess ? `did you mean ${guess}? ` : ""}flags go after the command: liveframe <command> [flags] (see liveframe --help)`,
      );
    }
    const cmd = COMMANDS.find((c) => c.spec.name === first);
    if (!cmd) throw unknownCommand(first);
    const rest = words.slice(1);
    if (wantsHelp(rest)) {
      ctx.out(commandHelp(cmd.spec, ctx.color));
      return ExitCode.ok;
    }
    const args = parseArgs(rest, cmd.spec.flags, `liveframe ${cmd.spec.name}`, cmd.spec.positionals.length);
    return await cmd.run(args, ctx);
  } catch (e) {
    return report(e, ctx);
  }
}

function unknownCommand(word: string): UsageError {
  const guess = closest(
    word,
    COMMANDS.map((c) => c.spec.name),
  );
  return new UsageError(
    `unknown command "${word}": ${guess ? `did you mean "liveframe ${guess}"?` : `commands are ${COMMANDS.map((c) => c.spec.name).join(", ")}`} (see liveframe --help)`,
  );
}

/** Prints an error the way users should see it; returns its exit code. */
export function report(e: unknown, ctx: CliContext): number {
  const c = ctx.errColor;
  if (e instanceof CliError) {
    ctx.err(`${c.red(c.bold("liveframe: error:"))} ${e.message}`);
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  ctx.err(`${c.red(c.bold("liveframe: error:"))} ${err.message}`);
  if (err.stack && ctx.env.LIVEFRAME_DEBUG) ctx.err(c.dim(err.stack));
  return ExitCode.failed;
}
