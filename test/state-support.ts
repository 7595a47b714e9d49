// Helpers for the state tests: temp dirs and child processes that are always cleaned up.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Subprocess } from "bun";

export const CHILD = path.join(import.meta.dir, "state-child.ts");

export interface Child {
  proc: Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  /** Writes a line to the child's stdin (only for `spawn(..., { stdin: true })`). */
  send(line: string): void;
  /** Resolves with the first stdout line that starts with `prefix`. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  exited: Promise<number>;
  stderr(): Promise<string>;
}

export class Sandbox {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "liveframe-state-"));
  private readonly children: Child[] = [];

  file(name = "state.bin"): string {
    return path.join(this.dir, name);
  }

  /** Spawns `bun test/state-child.ts mode file arg`, or the given argv through `wrap`. */
  spawn(mode: string, file: string, arg = "0", wrap: string[] = [], opts: { stdin?: boolean; env?: Record<string, string> } = {}): Child {
    const argv = [...wrap, process.execPath, CHILD, mode, file, arg];
    const proc = Bun.spawn(argv, {
      stdout: "pipe",
      stderr: "pipe",
      stdin: opts.stdin ? "pipe" : "ignore",
      env: { ...process.env, ...opts.env },
    });
    let buffered = "";
    const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
    const seen: string[] = [];
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) {
        buffered += decoder.decode(chunk);
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const l = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          seen.push(l);
          for (const w of [...waiters]) if (l.startsWith(w.prefix)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      }
    })();
    let stderrText: Promise<string> | undefined;
    const child: Child = {
      proc,
      send: (line) => {
        const stdin = proc.stdin;
        if (!stdin || typeof stdin === "number") throw new Error(`child ${mode}: spawned without stdin`);
        stdin.write(`${line}\n`);
        stdin.flush();
      },
      exited: proc.exited,
      stderr: () => (stderrText ??= new Response(proc.stderr).text()),
      line: (prefix, timeoutMs = 45_000) =>
        new Promise((resolve, reject) => {
          const hit = seen.find((l) => l.startsWith(prefix));
          if (hit !== undefined) return resolve(hit);
          const timer = setTimeout(() => reject(new Error(`child ${mode}: no "${prefix}" line within ${timeoutMs} ms (saw ${JSON.stringify(seen)})`)), timeoutMs);
          waiters.push({ prefix, resolve: (l) => (clearTimeout(timer), resolve(l)) });
          proc.exited.then(async (code) => {
            // give the reader a moment to deliver the last lines
            await Bun.sleep(50);
            if (waiters.some((w) => w.prefix === prefix)) {
              clearTimeout(timer);
              reject(new Error(`child ${mode} exited (${code}) before "${prefix}" (saw ${JSON.stringify(seen)}): ${await child.stderr()}`));
            }
          });
        }),
    };
    this.children.push(child);
    return child;
  }

  cleanup(): void {
    for (const c of this.children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill(9);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
