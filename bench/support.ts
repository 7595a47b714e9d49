import type { Subprocess } from "bun";
// What every benchmark script needs: `--name value` flags validated by a zod schema, and wrk.
import { spawnSync } from "bun";
import type { z } from "zod";

/**
 * Parses `--name value` pairs into `schema` (a strict zod object whose fields coerce from
 * strings). A wrong flag exits 2 with the bench's name and what was wrong.
 */
export function parseBenchFlags<S extends z.ZodObject>(bench: string, argv: string[], schema: S): z.infer<S> {
  const raw: Record<string, string> = {};
  const usage = Object.keys(schema.shape).map((k) => `--${k} V`).join(" ");
  const fail = (why: string): never => {
    console.error(`${bench}: ${why} (flags: ${usage})`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (!flag.startsWith("--")) fail(`unexpected argument "${flag}"`);
    if (value === undefined) fail(`${flag} needs a value`);
    raw[flag.slice(2)] = value!;
  }
  const parsed = schema.strict().safeParse(raw);
  if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join(".") || "flag"}: ${i.message}`).join("; "));
  return parsed.data as z.infer<S>;
}

/** wrk is the load generator (Debian package `wrk`): install it when missing, and say so. */
export function ensureWrk(): void {
  if (spawnSync(["sh", "-c", "command -v wrk"]).exitCode === 0) return;
  console.log("wrk is missing: installing it with apt-get (apt-get update && apt-get install -y wrk) …");
  const r = spawnSync(["sh", "-c", "apt-get update -qq && apt-get install -y -qq wrk"], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("could not install wrk with apt-get: install it yourself (Debian package `wrk`) and run again");
}

/**
 * Reads a child's stdout until `pattern` matches (its start-up line, e.g. "ready <port>"), then
 * keeps draining it so the child never blocks on a full pipe. Throws with what it printed when
 * it exits or `timeoutMs` passes first (the child is killed then).
 */
export async function readUntil(proc: Subprocess, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let out = "";
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const m = out.match(pattern);
    if (m) {
      reader.releaseLock();
      void (async () => {
        for await (const _ of proc.stdout as ReadableStream<Uint8Array>) {
        }
      })().catch(() => {});
      return m;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited before it was ready (exit code ${await proc.exited}):\n${out}`);
    out += dec.decode(value);
  }
  proc.kill();
  throw new Error(`${what} did not start within ${timeoutMs / 1000} s:\n${out}`);
}
