// Help text: `liveframe --help` and `liveframe <command> --help`, generated from the specs so
// it can never disagree with what the parser accepts.
import type { FlagSpec } from "./args.ts";
import type { Palette } from "./color.ts";
import type { Command, CommandSpec } from "./command.ts";
import { ExitCode } from "./exit-codes.ts";

function flagLabel(f: FlagSpec): string {
  const long = `--${f.name}${f.type === "boolean" ? "" : ` ${f.value ?? "VALUE"}`}`;
  return f.short ? `-${f.short}, ${long}` : `    ${long}`;
}

function table(rows: [string, string][], indent = 2): string[] {
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `${" ".repeat(indent)}${l.padEnd(width)}  ${r}`);
}

function usageLine(spec: CommandSpec): string {
  const pos = spec.positionals.map((p) => `[${p.name}]`).join(" ");
  return `liveframe ${spec.name}${pos ? ` ${pos}` : ""}${spec.flags.length > 1 ? " [flags]" : ""}`;
}

export const EXIT_CODE_HELP: [string, string][] = [
  [String(ExitCode.ok), "success"],
  [String(ExitCode.failed), "the command failed (app did not start, reload refused or failed)"],
  [String(ExitCode.usage), "bad command line or config file: nothing was attempted"],
  [String(ExitCode.notRunning), "no server is running on the runtime dir (reload, status, stop)"],
  [String(ExitCode.timeout), "the server did not answer in time"],
  [String(ExitCode.interrupted), "interrupted (SIGINT) before the command finished"],
];

export function commandHelp(spec: CommandSpec, c: Palette): string {
  const lines = [`${c.bold(usageLine(spec))}`, "", spec.summary];
  if (spec.description) lines.push("", spec.description);
  if (spec.positionals.length) {
    lines.push("", c.bold("Arguments:"), ...table(spec.positionals.map((p) => [p.name, p.help])));
  }
  lines.push("", c.bold("Flags:"), ...table(spec.flags.map((f) => [flagLabel(f), f.help])));
  if (spec.examples?.length) lines.push("", c.bold("Examples:"), ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

export function mainHelp(commands: readonly Command[], version: string, c: Palette): string {
  return [
    `${c.bold("liveframe")} ${version}: a Bun HTTP server for Hono apps whose reloads hand the listening`,
    "socket and every live keep-alive connection to the next generation.",
    "",
    `${c.bold("Usage:")} liveframe <command> [arguments] [flags]`,
    "",
    c.bold("Commands:"),
    ...table(commands.map((cmd) => [cmd.spec.name, cmd.spec.summary])),
    "",
    c.bold("Flags:"),
    ...table([
      ["-h, --help", "show help (also: liveframe <command> --help)"],
      ["-v, --version", "print the version"],
      ["    --no-color", "no colours (also NO_COLOR=1; colours are only used on a terminal)"],
    ]),
    "",
    c.bold("Exit codes:"),
    ...table(EXIT_CODE_HELP),
    "",
    "Quick start: liveframe dev  (serves a demo on http://localhost:3000), liveframe init my-app",
  ].join("\n");
}
