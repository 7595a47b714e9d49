// `liveframe init [dir]`: a new app from templates/<name>, ready for `npm install && npm run dev`.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { type Command, HELP_FLAG } from "./command.ts";
import { CliError, ExitCode, UsageError } from "./exit-codes.ts";
import { closest } from "./suggest.ts";
import { PACKAGE_ROOT, packageVersion } from "./version.ts";

export const TEMPLATES = {
  basic: "Hono routes and a shared-state visit counter that survives reloads",
  api: "a JSON API with zod-validated input and state shared by every generation",
} as const;
export type TemplateName = keyof typeof TEMPLATES;
export const DEFAULT_TEMPLATE: TemplateName = "basic";
export const TEMPLATES_DIR = join(PACKAGE_ROOT, "templates");

/**
 * Files stored under another name in templates/, because npm drops `.gitignore` from published
 * packages.
 */
const RENAMES: Record<string, string> = { gitignore: ".gitignore" };

/** Entries that do not make a directory "non-empty" for init: a fresh `git init` is fine. */
const HARMLESS = new Set([".git"]);

/** A valid npm package name from a directory name: lower-case, url-safe. */
export function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+|[-]+$/g, "");
  return name || "liveframe-app";
}

/**
 * What package.json should depend on for liveframe: the published version when this CLI runs
 * from an installed package, else this checkout (so an app made from a git clone installs).
 */
export function liveframeDependency(root: string = PACKAGE_ROOT): string {
  return root.split("/").includes("node_modules") ? `^${packageVersion()}` : `file:${root}`;
}

function ourVersions(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  return { ...pkg.devDependencies, ...pkg.dependencies };
}

/** Rewrites the template's package.json for this app: its name, and dependency versions that match ours. */
function writePackageJson(target: string): void {
  const file = join(target, "package.json");
  const pkg = JSON.parse(readFileSync(file, "utf8")) as {
    name?: string;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  pkg.name = packageName(target);
  const ours = ourVersions();
  for (const deps of [pkg.dependencies, pkg.devDependencies]) {
    if (!deps) continue;
    for (const name of Object.keys(deps)) {
      if (name === "liveframe") deps[name] = liveframeDependency();
      else if (ours[name]) deps[name] = ours[name]!;
    }
  }
  writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Lists what a template copies, after renames, relative to the target. */
function templateFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === ".liveframe") continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...templateFiles(join(dir, entry.name), rel));
    else out.push(prefix ? `${prefix}/${RENAMES[entry.name] ?? entry.name}` : (RENAMES[entry.name] ?? entry.name));
  }
  return out.sort();
}

export interface InitResult {
  readonly target: string;
  readonly files: string[];
}

/** Copies template `name` into `target`. Throws a CliError a user can act on. */
export function initApp(target: string, name: string, force: boolean): InitResult {
  if (!Object.hasOwn(TEMPLATES, name)) {
    const guess = closest(name, Object.keys(TEMPLATES));
    throw new UsageError(
      `unknown template "${name}": ${guess ? `did you mean "${guess}"? ` : ""}templates are ${Object.keys(TEMPLATES).join(", ")}`,
    );
  }
  const source = join(TEMPLATES_DIR, name);
  if (!existsSync(source)) throw new CliError(`template "${name}" is missing from ${TEMPLATES_DIR}: reinstall liveframe`);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new UsageError(`${target} exists and is not a directory: pick another name`);
    const present = readdirSync(target).filter((e) => !HARMLESS.has(e));
    if (present.length > 0 && !force) {
      const shown = present.slice(0, 3).join(", ") + (present.length > 3 ? `, … (${present.length} entries)` : "");
      throw new CliError(
        `${target} is not empty (${shown}): pick an empty or new directory, or pass --force to write the template's files over it`,
        ExitCode.failed,
      );
    }
  }
  mkdirSync(target, { recursive: true });
  cpSync(source, target, {
    recursive: true,
    force: true,
    filter: (src) => !/(^|\/)(node_modules|\.liveframe)(\/|$)/.test(relative(source, src)),
  });
  for (const [from, to] of Object.entries(RENAMES)) {
    for (const dir of [target]) {
      if (existsSync(join(dir, from))) renameSync(join(dir, from), join(dir, to));
    }
  }
  writePackageJson(target);
  return { target, files: templateFiles(source) };
}

export const initCommand: Command = {
  spec: {
    name: "init",
    summary: "create a new app from a template (basic or api)",
    positionals: [{ name: "dir", help: "where to create it (default: the working directory)" }],
    flags: [
      {
        name: "template",
        short: "t",
        type: "string",
        value: "NAME",
        help: `${Object.entries(TEMPLATES).map(([k, v]) => `${k}: ${v}`).join("; ")} (default ${DEFAULT_TEMPLATE})`,
      },
      { name: "force", short: "f", type: "boolean", help: "write into a non-empty directory, replacing files with the same names" },
      HELP_FLAG,
    ],
    examples: ["liveframe init my-app", "liveframe init my-api --template api"],
  },
  async run(args, ctx) {
    const dirArg = args.positionals[0] ?? ".";
    const target = resolve(ctx.cwd, dirArg);
    const template = args.flags.get("template") ?? DEFAULT_TEMPLATE;
    const { files } = initApp(target, String(template), args.flags.get("force") === true);
    const c = ctx.color;
    const shown = relative(ctx.cwd, target) || ".";
    ctx.out(`${c.green("created")} ${shown} from the ${c.bold(String(template))} template:`);
    for (const f of files) ctx.out(`  ${f}`);
    ctx.out("");
    ctx.out(c.bold("next:"));
    if (shown !== ".") ctx.out(`  cd ${shown.includes(" ") ? JSON.stringify(shown) : shown}`);
    ctx.out(`  npm install        ${c.dim("(or: bun install)")}`);
    ctx.out(`  npm run dev        ${c.dim("→ http://localhost:3000, reloads on every save")}`);
    ctx.out(`  npm test`);
    return ExitCode.ok;
  },
};
