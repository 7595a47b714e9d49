// The real `liveframe` binary as a user meets it: help, version, mistakes with suggestions,
// colours only where wanted, and the documented exit codes.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = new URL("../bin/liveframe.ts", import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-cli-"));
  dirs.push(d);
  return d;
}

async function run(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  // Start from a colour-neutral environment; each test sets what it checks.
  const { FORCE_COLOR: _f, NO_COLOR: _n, ...inherited } = process.env as Record<string, string>;
  const env = { ...inherited, ...opts.env };
  const proc = Bun.spawn([process.execPath, BIN, ...args], { env, cwd: opts.cwd ?? tempDir(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("--help lists every command and the exit codes; each command has its own --help", async () => {
  const r = await run(["--help"]);
  expect(r.code).toBe(0);
  for (const cmd of ["dev", "start", "reload", "status", "stop", "init"]) expect(r.stdout).toContain(`  ${cmd} `);
  expect(r.stdout).toContain("Exit codes:");
  const start = await run(["start", "--help"]);
  expect(start.code).toBe(0);
  expect(start.stdout).toContain("liveframe start [entry] [flags]");
  expect(start.stdout).toContain("--drain-timeout S");
  expect(start.stdout).toContain("--runtime-dir DIR");
  const help = await run(["help", "reload"]);
  expect(help.stdout).toContain("--timeout S");
}, 30_000);

test("--version prints the package version", async () => {
  const pkg = (await Bun.file(new URL("../package.json", import.meta.url)).json()) as { version: string };
  for (const flag of ["--version", "-v"]) {
    const r = await run([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`liveframe ${pkg.version} (bun `);
  }
}, 30_000);

test("an unknown command or flag exits 2 naming the closest valid one", async () => {
  const cmd = await run(["strat"]);
  expect(cmd.code).toBe(2);
  expect(cmd.stderr).toContain('unknown command "strat": did you mean "liveframe start"?');
  const flag = await run(["start", "--prot", "3000"]);
  expect(flag.code).toBe(2);
  expect(flag.stderr).toContain("unknown flag --prot for \"liveframe start\": did you mean --port?");
  const top = await run(["--verison"]);
  expect(top.code).toBe(2);
  expect(top.stderr).toContain("did you mean --version?");
  const value = await run(["start", "--port", "http"]);
  expect(value.code).toBe(2);
  expect(value.stderr).toContain('--port "http": expected a port number from 0 to 65535');
}, 30_000);

test("colours only when forced or on a terminal; NO_COLOR and --no-color win", async () => {
  const piped = await run(["strat"]);
  expect(piped.stderr).not.toContain("\x1b[");
  const forced = await run(["strat"], { env: { FORCE_COLOR: "1" } });
  expect(forced.stderr).toContain("\x1b[31m");
  const noColor = await run(["strat"], { env: { FORCE_COLOR: "1", NO_COLOR: "1" } });
  expect(noColor.stderr).not.toContain("\x1b[");
  const flag = await run(["--no-color", "strat"], { env: { FORCE_COLOR: "1" } });
  expect(flag.stderr).not.toContain("\x1b[");
}, 30_000);

test("reload, status and stop with no server on the runtime dir exit 3 and say how to start one", async () => {
  const cwd = tempDir();
  for (const cmd of ["reload", "status", "stop"]) {
    const r = await run([cmd, "--runtime-dir", join(cwd, "nothing-here")], { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no liveframe server is running on ${join(cwd, "nothing-here")}`);
    expect(r.stderr).toContain("liveframe start");
  }
}, 30_000);

test("start with no app exits 2; a missing entry and a bad config name the file", async () => {
  const cwd = tempDir();
  const none = await run(["start", "--port", "0"], { cwd });
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("no app to start");
  const missing = await run(["start", "nope.ts"], { cwd });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("app module nope.ts not found");
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ port: 99999 }));
  const bad = await run(["start", "--runtime-dir", join(cwd, "rt")], { cwd });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('liveframe.config.json: "port" is 99999: expected a port number from 0 to 65535');
}, 30_000);

test("reload --timeout must be a positive number", async () => {
  const r = await run(["reload", "--timeout", "0"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("--timeout 0: expected a number of seconds greater than 0");
}, 30_000);

test("a reader that closes the pipe early (| head -1) ends the command quietly: exit 0, no EPIPE trace", async () => {
  const cwd = tempDir();
  // `true` exits without reading, long before bun has started: every write meets a closed pipe.
  const script = `"$0" "$1" init "$2" | true; echo "init=\${PIPESTATUS[0]}" >&2; "$0" "$1" --help | true; echo "help=\${PIPESTATUS[0]}" >&2`;
  const proc = Bun.spawn(["bash", "-c", script, process.execPath, BIN, join(cwd, "app")], { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  expect(stderr).not.toContain("EPIPE");
  expect(stderr).toContain("init=0");
  expect(stderr).toContain("help=0");
  expect(existsSync(join(cwd, "app", "src", "app.ts"))).toBe(true); // init still did its work
}, 30_000);

test("--host must be a numeric address or localhost: a host name is a usage error (exit 2) naming the flag, before anything starts", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("hi") };\n`);
  for (const host of ["localhost.invalid", "1.2.3", "example.com"]) {
    const r = await run(["start", "--port", "0", "--runtime-dir", join(cwd, "rt"), "--host", host, "app.ts"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--host "${host}": expected a numeric IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1, :: or ::1 (or localhost)`);
  }
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ host: "my-server" }));
  const config = await run(["start", "--port", "0", "app.ts"], { cwd });
  expect(config.code).toBe(2);
  expect(config.stderr).toContain('liveframe.config.json: "host" is "my-server": expected a numeric IPv4 or IPv6 address');
}, 30_000);
