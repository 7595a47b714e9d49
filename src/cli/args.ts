// The command line, parsed strictly: every flag must be known to the command, every value
// present. Values stay raw (numbers converted when they look like numbers); options.ts
// validates them with the same zod schema as the config file.
import { UsageError } from "./exit-codes.ts";
import { closest } from "./suggest.ts";

export type FlagType = "string" | "number" | "boolean";

export interface FlagSpec {
  /** Long name without dashes, kebab-case: `drain-timeout`. */
  readonly name: string;
  /** One letter, used as `-p`. */
  readonly short?: string;
  readonly type: FlagType;
  /** Placeholder shown in help: `--port N`. */
  readonly value?: string;
  readonly help: string;
}

export type FlagValue = string | number | boolean;

export interface ParsedArgs {
  readonly positionals: string[];
  /** Keyed by long flag name. */
  readonly flags: Map<string, FlagValue>;
}

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function convert(flag: FlagSpec, raw: string): FlagValue {
  if (flag.type === "number") return NUMERIC.test(raw.trim()) ? Number(raw) : raw;
  if (flag.type === "boolean") {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw new UsageError(`--${flag.name}=${raw}: expected true or false (or just --${flag.name})`);
  }
  return raw;
}

/**
 * Parses `argv` (the words after the command name) against `flags`.
 * `where` names the command in error messages ("liveframe start").
 */
export function parseArgs(
  argv: readonly string[],
  flags: readonly FlagSpec[],
  where: string,
  maxPositionals: number,
): ParsedArgs {
  const byName = new Map(flags.map((f) => [f.name, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const positionals: string[] = [];
  const values = new Map<string, FlagValue>();

  const unknown = (word: string): never => {
    const names = flags.map((f) => `--${f.name}`);
    const guess = closest(word.replace(/=.*$/, ""), names);
    const hint = guess ? `did you mean ${guess}?` : `run "${where} --help" for the flags it takes`;
    throw new UsageError(`unknown flag ${word.replace(/=.*$/, "")} for "${where}": ${hint}`);
  };

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let flag: FlagSpec | undefined;
    let inline: string | undefined;
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      inline = eq < 0 ? undefined : word.slice(eq + 1);
      flag = byName.get(name);
      if (!flag && name.startsWith("no-") && inline === undefined) {
        const negated = byName.get(name.slice(3));
        if (negated?.type === "boolean") {
          values.set(negated.name, false);
          continue;
        }
      }
      if (!flag) unknown(word);
    } else if (word.startsWith("-") && word.length > 1 && !NUMERIC.test(word)) {
      flag = byShort.get(word.slice(1, 2));
      if (!flag) unknown(word);
      if (word.length > 2) inline = word.slice(2).replace(/^=/, "");
    } else {
      positionals.push(word);
      continue;
    }
    const f = flag!;
    if (f.type === "boolean") {
      values.set(f.name, inline === undefined ? true : convert(f, inline));
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next.length > 1 && !NUMERIC.test(next))) {
        throw new UsageError(`--${f.name} needs a value: ${where} --${f.name} ${f.value ?? "VALUE"}`);
      }
      raw = next;
      i++;
    }
    values.set(f.name, convert(f, raw));
  }

  if (positionals.length > maxPositionals) {
    const extra = positionals.slice(maxPositionals).map((p) => JSON.stringify(p)).join(" ");
    throw new UsageError(
      maxPositionals === 0
        ? `"${where}" takes no arguments, got ${extra}: run "${where} --help"`
        : `too many arguments for "${where}": ${extra} was not expected: run "${where} --help"`,
    );
  }
  return { positionals, flags: values };
}

/** kebab-case flag name → camelCase option key: `drain-timeout` → `drainTimeout`. */
export function flagToKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** camelCase option key → kebab-case flag name: `maxHeaderBytes` → `max-header-bytes`. */
export function keyToFlag(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
