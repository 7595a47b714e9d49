// What every subcommand is: a spec (for parsing and help) and a run function.
import type { FlagSpec, ParsedArgs } from "./args.ts";
import type { Palette } from "./color.ts";

export interface CommandSpec {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Positional arguments, in order; all optional. */
  readonly positionals: readonly { readonly name: string; readonly help: string }[];
  readonly flags: readonly FlagSpec[];
  /** Paragraphs shown under the usage line of `liveframe <cmd> --help`. */
  readonly description?: string;
  readonly examples?: readonly string[];
}

/** The process around a command: injectable so tests can run commands in-process. */
export interface CliContext {
  readonly cwd: string;
  readonly env: Record<string, string | undefined>;
  /** Writes one line (a newline is added) to stdout / stderr. */
  out(line: string): void;
  err(line: string): void;
  /** Colours for stdout and for stderr (each decided by its own stream). */
  readonly color: Palette;
  readonly errColor: Palette;
  readonly stdinIsTTY: boolean;
}

export interface Command {
  readonly spec: CommandSpec;
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

export const HELP_FLAG: FlagSpec = { name: "help", short: "h", type: "boolean", help: "show this help" };
export const RUNTIME_DIR_FLAG: FlagSpec = {
  name: "runtime-dir",
  type: "string",
  value: "DIR",
  help: "the control socket and shared state files live here (default ./.liveframe)",
};
export const CONFIG_FLAG: FlagSpec = {
  name: "config",
  short: "c",
  type: "string",
  value: "FILE",
  help: "config file (default: the first of liveframe.config.ts|js|mjs|json in the working directory)",
};
