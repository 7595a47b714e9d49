// `liveframe dev [entry]`: the supervisor in the foreground plus a watcher: every save starts a
// new generation that takes over the browser's live connection and the app's shared state.
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { type Command, CONFIG_FLAG, HELP_FLAG, RUNTIME_DIR_FLAG } from "./command.ts";
import { describeReload, ms } from "./events.ts";
import { SERVER_FLAGS } from "./options.ts";
import { planServe, runSupervisor } from "./serve.ts";
import type { ReloadOutcome, Supervisor } from "./supervisor-link.ts";
import { checkSyntax, formatSyntaxProblem } from "./syntax.ts";
import { describeChange, watchTree } from "./watch.ts";
import type { CliContext } from "./command.ts";

/** How the supervisor refuses a reload while another runs, and while it stops. */
const BUSY = /already in progress/i;
const STOPPING = /is stopping/i;
/** A reload takes 100+ ms; checking back this often keeps a save's reload close behind. */
const BUSY_RETRY_MS = 50;

/**
 * One reload at a time; saves during a reload are batched into exactly one more, so the last
 * save is always the one that ends up serving.
 */
export class DevReloader {
  #busy = false;
  #pending: string[] | undefined;
  readonly #supervisor: Supervisor;
  readonly #ctx: CliContext;
  readonly #root: string;
  readonly #timeoutMs: number;
  /** Set while this reloader's own reload runs, so the event log does not repeat it. */
  reloading = false;

  constructor(supervisor: Supervisor, ctx: CliContext, root: string, timeoutMs: number) {
    this.#supervisor = supervisor;
    this.#ctx = ctx;
    this.#root = root;
    this.#timeoutMs = timeoutMs;
  }

  /** `files` are relative to the watched root; empty for a manual reload. */
  request(files: string[]): void {
    if (this.#busy) {
      this.#pending = [...(this.#pending ?? []), ...files];
      return;
    }
    void this.#run(files);
  }

  async #run(files: string[]): Promise<void> {
    this.#busy = true;
    const c = this.#ctx.color;
    const ec = this.#ctx.errColor;
    const what = files.length ? `${describeChange([...new Set(files)])} changed` : "manual reload";
    try {
      // A syntax error is found without touching the serving generation.
      for (const f of new Set(files)) {
        const problem = checkSyntax(resolve(this.#root, f));
        if (problem) {
          const status = this.#supervisor.status();
          this.#ctx.err(ec.red(`✗ ${f}: syntax error, still serving generation ${status.generation}`));
          this.#ctx.err(formatSyntaxProblem(problem, relative(this.#ctx.cwd, problem.file) || problem.file));
          return;
        }
      }
      this.reloading = true;
      let outcome: ReloadOutcome;
      try {
        outcome = await this.#supervisor.reload({ timeoutMs: this.#timeoutMs, reason: what });
      } finally {
        this.reloading = false;
      }
      if (!outcome.ok && BUSY.test(outcome.error ?? "")) {
        // Someone else's reload (`liveframe reload`, SIGHUP) is running: this save follows it.
        setTimeout(() => this.request(files), BUSY_RETRY_MS);
        return;
      }
      if (!outcome.ok && STOPPING.test(outcome.error ?? "")) return;
      if (outcome.ok) {
        this.#ctx.out(
          `${c.green("↻")} generation ${outcome.to ?? "?"} ${c.dim(`(${what})`)} serving in ${ms(outcome.servingMs ?? outcome.totalMs)}` +
            c.dim(`, ${outcome.connectionsMoved} connection${outcome.connectionsMoved === 1 ? "" : "s"} carried over`),
        );
      } else {
        this.#ctx.err(ec.red(`✗ ${what}: reload failed, still serving generation ${outcome.from}`));
        this.#ctx.err(outcome.error ?? describeReload(outcome));
      }
    } catch (e) {
      this.#ctx.err(ec.red(`✗ ${what}: ${(e as Error).message}`));
    } finally {
      this.#busy = false;
      const next = this.#pending;
      this.#pending = undefined;
      if (next) this.request(next);
    }
  }
}

/**
 * What `dev` watches: the project the entry belongs to (the nearest directory with a
 * package.json, so sibling folders, config and .env count), else the entry's directory.
 * The demo is watched alone: its package is liveframe itself.
 */
export function watchRoot(entry: string, demo: boolean): string {
  const own = dirname(entry);
  if (demo) return own;
  for (let dir = own; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return own;
  }
}

export const devCommand: Command = {
  spec: {
    name: "dev",
    summary: "serve the app and start a new generation on every save (no entry: a demo app)",
    positionals: [{ name: "entry", help: "module that default-exports the Hono app (default: app.ts, src/app.ts, server.ts, src/server.ts, else the demo)" }],
    flags: [...SERVER_FLAGS, RUNTIME_DIR_FLAG, CONFIG_FLAG, HELP_FLAG],
    description:
      "Watches the app's project (the nearest directory with a package.json, else the entry's directory),\n" +
      "without node_modules, hidden directories and the runtime dir. A save starts a new\n" +
      "generation that takes over the live connections and the shared state; a syntax error or a throwing\n" +
      "import prints the error with file and line and keeps the last good generation serving.\n" +
      "On a terminal: r + Enter reloads, q + Enter quits. `liveframe reload` works too.\n" +
      "Each save's line is printed as soon as the new generation serves; a request still running (a stream)\n" +
      "finishes in the old generation, which dev gives 3 s unless --drain-timeout says otherwise.",
    examples: ["liveframe dev", "liveframe dev src/app.ts --port 8080"],
  },
  async run(args, ctx) {
    const plan = await planServe(args, ctx, "dev");
    const root = watchRoot(plan.entry, plan.demo);
    const c = ctx.color;
    let reloader: DevReloader | undefined;
    // Watch before generation 1 starts: a save during its boot must not be missed. Such a save
    // may or may not be in generation 1, so it causes one reload once the server is up.
    let savedDuringBoot: string[] = [];
    /** Set while generation 1 could not start: the next save retries. */
    let retry: (() => void) | undefined;
    const watcher = watchTree({
      root,
      ignore: [plan.options.runtimeDir],
      onChange: (files) => {
        if (reloader) return reloader.request(files);
        if (retry) return retry();
        savedDuringBoot.push(...files);
      },
      onError: (e) => ctx.err(ctx.errColor.yellow(`liveframe: watching ${root} failed: ${e.message}; r + Enter still reloads`)),
    });
    let running: Awaited<ReturnType<typeof runSupervisor>>;
    for (;;) {
      try {
        running = await runSupervisor(plan, ctx, {
          logs: (e) => !(reloader?.reloading && (e.type === "reloading" || e.type === "reloaded" || e.type === "reload-failed")),
        });
        break;
      } catch (e) {
        // An app that does not load (syntax error, throwing import) is what dev is for: say
        // so and wait for the fix. Anything else (port in use, bad runtime dir) ends dev.
        const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
        if (!cause.includes(plan.entry)) {
          watcher.close();
          throw e;
        }
        ctx.err(ctx.errColor.red(`✗ ${(e as Error).message}`));
        ctx.err(ctx.errColor.dim("fix it and save to try again (Ctrl-C quits)"));
        await new Promise<void>((resolve) => (retry = resolve));
        retry = undefined;
        savedDuringBoot = [];
      }
    }
    const r = new DevReloader(running.supervisor, ctx, root, plan.options.readyTimeoutMs);
    reloader = r;
    if (savedDuringBoot.length) r.request(savedDuringBoot);
    savedDuringBoot = [];
    ctx.out(
      c.dim(
        `${plan.demo ? "serving the demo app (no app in this directory; try liveframe init). " : ""}` +
          `watching ${relative(ctx.cwd, root) || "."}${ctx.stdinIsTTY ? ": r + Enter reloads, q + Enter quits" : ""}`,
      ),
    );
    let keys: ReturnType<typeof createInterface> | undefined;
    if (ctx.stdinIsTTY) {
      keys = createInterface({ input: process.stdin });
      keys.on("line", (line) => {
        const key = line.trim().toLowerCase();
        if (key === "r") r.request([]);
        else if (key === "q") void running.supervisor.stop();
        else if (key) ctx.out(c.dim("r + Enter reloads, q + Enter quits"));
      });
    }
    try {
      return await running.exited;
    } finally {
      watcher.close();
      keys?.close();
    }
  },
};
