import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usableCpus } from "../supervisor/cpus.ts";
import { loadConfig, resolveOptions, validateOptions } from "./config.ts";
import { DEFAULT_PORT } from "./options.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-config-"));
  dirs.push(d);
  return d;
}

test("no config file: defaults, with the runtime dir made absolute", async () => {
  const cwd = dir();
  expect(await loadConfig(cwd)).toBeUndefined();
  const o = resolveOptions({}, undefined, cwd);
  expect(o).toMatchObject({ port: DEFAULT_PORT, host: "0.0.0.0", runtimeDir: join(cwd, ".liveframe"), drainTimeoutMs: 30_000, readyTimeoutMs: 60_000, health: false });
  expect(o.entry).toBeUndefined();
});

test("liveframe.config.json: values used, flags override, paths relative to the file", async () => {
  const cwd = dir();
  mkdirSync(join(cwd, "conf"));
  writeFileSync(join(cwd, "conf", "lf.json"), JSON.stringify({ port: 4000, host: "127.0.0.1", runtimeDir: "run", entry: "../src/app.ts", drainTimeout: 1.5 }));
  const config = await loadConfig(cwd, "conf/lf.json");
  const o = resolveOptions(validateOptions({ port: 0, runtimeDir: "here" }, { kind: "flags" }), config, cwd);
  expect(o.port).toBe(0); // flag wins
  expect(o.host).toBe("127.0.0.1"); // from the file
  expect(o.drainTimeoutMs).toBe(1500);
  expect(o.runtimeDir).toBe(join(cwd, "here")); // flags: relative to the working directory
  expect(o.entry).toBe(join(cwd, "src/app.ts")); // file: relative to the file
});

test("liveframe.config.ts is found in the working directory and its default export used", async () => {
  const cwd = dir();
  writeFileSync(join(cwd, "liveframe.config.ts"), "export default { port: 5001, health: true };\n");
  const config = await loadConfig(cwd);
  expect(config?.values).toEqual({ port: 5001, health: true });
});

test("config errors name the file, the key, the value and what is expected", async () => {
  const cwd = dir();
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ port: "80a", drainTimeout: -1 }));
  const err = await loadConfig(cwd).catch((e: Error & { exitCode: number }) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as { exitCode: number }).exitCode).toBe(2);
  expect((err as Error).message).toContain('liveframe.config.json: "port" is "80a": expected a port number from 0 to 65535');
  expect((err as Error).message).toContain('liveframe.config.json: "drainTimeout" is -1: expected a number of seconds greater than 0');
});

test("unknown keys in a config file suggest the right one", async () => {
  const cwd = dir();
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ prot: 3000 }));
  await expect(loadConfig(cwd)).rejects.toThrow('liveframe.config.json: unknown key "prot": did you mean "port"?');
});

test("broken files: invalid JSON, a TS file that throws, no default export, a missing --config", async () => {
  const a = dir();
  writeFileSync(join(a, "liveframe.config.json"), "{ port: 1 }");
  await expect(loadConfig(a)).rejects.toThrow(/liveframe.config.json: not valid JSON/);
  const b = dir();
  writeFileSync(join(b, "liveframe.config.ts"), "throw new Error('boom');\n");
  await expect(loadConfig(b)).rejects.toThrow("liveframe.config.ts: failed to load: boom");
  const c = dir();
  writeFileSync(join(c, "liveframe.config.ts"), "export const port = 1;\n");
  await expect(loadConfig(c)).rejects.toThrow("no default export");
  await expect(loadConfig(c, "nope.json")).rejects.toThrow("config file nope.json not found");
  const d = dir();
  writeFileSync(join(d, "liveframe.config.json"), "[1]");
  await expect(loadConfig(d)).rejects.toThrow("expected an object of options");
});

test("flag values are validated by the same schema, naming the flag", () => {
  expect(() => validateOptions({ port: 70000 }, { kind: "flags" })).toThrow("--port 70000: expected a port number from 0 to 65535");
  expect(() => validateOptions({ timeout: "soon" }, { kind: "flags" })).toThrow('--timeout "soon": expected a number of seconds');
  expect(() => validateOptions({ backlog: 1.5 }, { kind: "flags" })).toThrow("--backlog 1.5: expected a whole number");
});

test("engine limits come from the engine's schema: config and flags set them, only what was given is passed on", async () => {
  const cwd = dir();
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ maxBodyBytes: 1024, keepAliveTimeoutMs: 2000 }));
  const config = await loadConfig(cwd);
  const o = resolveOptions(validateOptions({ keepAliveTimeoutMs: 500 }, { kind: "flags" }), config, cwd);
  expect(o.server).toEqual({ maxBodyBytes: 1024, keepAliveTimeoutMs: 500 });
  expect(resolveOptions({}, undefined, cwd).server).toEqual({});
  expect(() => validateOptions({ maxBodyBytes: -5 }, { kind: "flags" })).toThrow("--max-body-bytes -5: maxBodyBytes must be greater than 0");
});

test("--workers takes a whole number from 1 to 256 or auto (the CPUs this process may use); --spread shared or reuseport; anything else names the flag and what is expected", async () => {
  for (const bad of [0, 1.5, 257, "many", -2]) {
    expect(() => validateOptions({ workers: bad }, { kind: "flags" })).toThrow(/--workers .*: expected a whole number of worker processes from 1 to 256, or "auto"/);
  }
  expect(() => validateOptions({ spread: "random" }, { kind: "flags" })).toThrow(/--spread "random": expected "shared" .* or "reuseport"/);
  const cwd = dir();
  expect(resolveOptions(validateOptions({}, { kind: "flags" }), undefined, cwd)).toMatchObject({ workers: 1, spread: "reuseport" });
  expect(resolveOptions(validateOptions({ workers: 3, spread: "shared" }, { kind: "flags" }), undefined, cwd)).toMatchObject({ workers: 3, spread: "shared" });
  expect(resolveOptions(validateOptions({ workers: "auto" }, { kind: "flags" }), undefined, cwd).workers).toBe(usableCpus());
});
