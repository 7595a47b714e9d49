// reload/status/stop against a server in trouble: a config file with a mistake in a key they do
// not use, a frozen supervisor (SIGSTOP), a supervisor that closes the connection mid-command.
import { expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { AS_OTHER_UID, IS_ROOT, reachableBun } from "./support/other-uid.ts";

const cleanups = cleanupAfterEach();

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-control-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function liveframe(args: string[], cwd: string) {
  const proc = Bun.spawn([process.execPath, BIN, ...args], { cwd, env: { ...(process.env as Record<string, string>), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** `liveframe start` on a free port in `cwd`; resolves once it listens. */
async function startServer(cwd: string, args: string[]) {
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("hi") };\n`);
  const server = spawnCli(["start", "--port", "0", "--host", "127.0.0.1", ...args, "app.ts"], { cwd });
  cleanups.push(async () => {
    server.kill("SIGCONT");
    server.kill("SIGKILL");
    await server.proc.exited;
  });
  await server.waitFor(LISTENING);
  return server;
}

test("a typo in a config key status/stop do not use (drainTimout) does not keep them from the running server", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ runtimeDir: "run" }));
  const server = await startServer(cwd, []);
  // The operator edits the config while the server runs and gets a key wrong.
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ runtimeDir: "run", drainTimout: 5, port: "80a" }));
  const status = await liveframe(["status", "--json"], cwd);
  expect(status.stderr).toBe("");
  expect(status.code).toBe(0);
  expect((JSON.parse(status.stdout) as { supervisorPid: number }).supervisorPid).toBe(server.proc.pid);
  // start still refuses the file: it would use those keys.
  const start = await liveframe(["start", "--port", "0", "app.ts"], cwd);
  expect(start.code).toBe(2);
  expect(start.stderr).toContain('unknown key "drainTimout": did you mean "drainTimeout"?');
  // A file that cannot be read at all: a warning, then the default dir (no server there: exit 3).
  writeFileSync(join(cwd, "liveframe.config.json"), "{ runtimeDir: ");
  const broken = await liveframe(["status"], cwd);
  expect(broken.code).toBe(3);
  expect(broken.stderr).toContain("liveframe: warning: liveframe.config.json: not valid JSON");
  expect(broken.stderr).toContain("using ./.liveframe (pass --runtime-dir to choose)");
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ runtimeDir: "run", drainTimeout: "5s" }));
  const stop = await liveframe(["stop"], cwd);
  expect(stop.stderr).toBe("");
  expect(stop.code).toBe(0);
  expect(await server.proc.exited).toBe(0);
}, 60_000);

test("status and stop on a frozen supervisor (SIGSTOP) give up after --timeout, exit 4 and name its pid and kill -CONT", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  const server = await startServer(cwd, ["--runtime-dir", rt]);
  const pid = server.proc.pid;
  server.kill("SIGSTOP");
  for (const cmd of ["status", "stop"]) {
    const r = await liveframe([cmd, "--timeout", "1", "--runtime-dir", rt], cwd);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`did not answer ${cmd} within 1 s`);
    expect(r.stderr).toContain(`the supervisor pid ${pid} is stopped (state T): resume it with \`kill -CONT ${pid}\``);
  }
  const bad = await liveframe(["status", "--timeout", "soon", "--runtime-dir", rt], cwd);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--timeout "soon": expected a number of seconds greater than 0');
  const stopped = await liveframe(["stop", "--timeout", "1", "--runtime-dir", rt], cwd);
  expect(stopped.stderr).toContain("the stop request was delivered: it takes effect if the supervisor resumes");
  // Resumed, the supervisor reads the stop that was delivered while it was frozen, and stops.
  server.kill("SIGCONT");
  expect(await server.proc.exited).toBe(0);
}, 60_000);

test("reload answered by a closed connection says the supervisor closed it (exited or refused this uid): check status and its log", async () => {
  const rt = tempDir();
  // Stands in for a supervisor that dies mid-reload: reads the request, closes without a word.
  const dying = Bun.listen({ unix: join(rt, "control.sock"), socket: { data(s) { s.end(); } } });
  cleanups.push(() => void dying.stop(true));
  const r = await liveframe(["reload", "--runtime-dir", rt], rt);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("closed the connection without answering reload: it may have exited or refused this uid");
  expect(r.stderr).toContain("check `liveframe status` and the supervisor's log");
  expect(r.stderr).not.toContain("was this uid refused");
}, 30_000);

test("start with a runtime dir that cannot be made (a file, under a file, no permission) says what is in the way and what to do", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("hi") };\n`);
  writeFileSync(join(cwd, "afile"), "");
  const onFile = await liveframe(["start", "--port", "0", "--runtime-dir", join(cwd, "afile"), "app.ts"], cwd);
  expect(onFile.code).toBe(1);
  expect(onFile.stderr).toContain(`runtime dir ${join(cwd, "afile")} is a file, not a directory: pick another with --runtime-dir`);
  expect(onFile.stderr).not.toContain("EEXIST");
  const under = await liveframe(["start", "--port", "0", "--runtime-dir", join(cwd, "afile", "sub"), "app.ts"], cwd);
  expect(under.code).toBe(1);
  expect(under.stderr).toContain(`cannot create the runtime dir ${join(cwd, "afile", "sub")}: ${join(cwd, "afile")} is a file, not a directory: pick another with --runtime-dir`);

  // No permission: root may write anywhere, so as root the CLI runs as uid 65534 (nobody).
  chmodSync(cwd, 0o755);
  mkdirSync(join(cwd, "locked"), { mode: 0o555 });
  chmodSync(join(cwd, "locked"), 0o555);
  // That uid runs a bun and a CLI it can reach, wherever this checkout is (support/other-uid.ts).
  const reachable = reachableBun(cleanups);
  const run = IS_ROOT ? [...AS_OTHER_UID, reachable.bun, await reachable.cli()] : [process.execPath, BIN];
  const proc = Bun.spawn([...run, "start", "--port", "0", "--runtime-dir", join(cwd, "locked", "rt"), "app.ts"], {
    cwd,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1", HOME: cwd },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  cleanups.push(() => void proc.kill(9));
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(stderr).toContain(`cannot create the runtime dir ${join(cwd, "locked", "rt")}: permission denied (EACCES) in ${join(cwd, "locked")}`);
  expect(stderr).toContain("pick another with --runtime-dir");
  expect(code).toBe(1);
}, 60_000);

test("a reload refused by a changed state type names the field, the state file (an int32), what to do, and the app's defineState line", async () => {
  const cwd = tempDir();
  const src = (type: string) =>
    `import { z } from "zod";\nimport { defineState } from ${JSON.stringify(new URL("../src/index.ts", import.meta.url).pathname)};\n\n` +
    `export const s = defineState(z.object({ hits: ${type} }), { name: "counter" });\n` +
    `export default { fetch: () => new Response(String(s.hits.add(1))) };\n`;
  writeFileSync(join(cwd, "app.ts"), src("z.int32()"));
  const rt = join(cwd, "rt");
  const server = spawnCli(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "app.ts"], { cwd });
  cleanups.push(() => server.killAndWait());
  await server.waitFor(LISTENING);
  writeFileSync(join(cwd, "app.ts"), src("z.float64()"));
  const r = await liveframe(["reload", "--runtime-dir", rt], cwd);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`state field "hits" changed type from int32 to float64: the state file ${join(rt, "state", "counter.bin")} holds an int32 there`);
  expect(r.stderr).toContain("Keep the old type, or store the new value under a new field name");
  expect(r.stderr).toContain(`(at ${join(cwd, "app.ts")}:4:`); // the app's line, not one inside src/state
  expect((await liveframe(["stop", "--runtime-dir", rt], cwd)).code).toBe(0);
}, 60_000);
