// A runtime dir only its owner steers, and one that comes back when removed: symlinks are
// refused (their target untouched), a dir or parent another uid owns or may write is refused
// even as root, a dir merely readable by others is tightened to 0700; a runtime dir removed
// while serving is recreated 0700 with its socket, `status` finds the server again, a second
// `start` is refused as "already running", and the state is never reset silently; a user who
// may not control the server gets "permission denied" (exit 77), not "no server" (exit 3).
import { expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";
import { AS_OTHER_UID, IS_ROOT, OTHER_UID, reachableBun } from "./support/other-uid.ts";

const cleanups = cleanupAfterEach();
const SRC_INDEX = new URL("../src/index.ts", import.meta.url).pathname;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-rundir-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function mode(p: string): string {
  return (lstatSync(p).mode & 0o7777).toString(8);
}

interface Result {
  stdout: string;
  stderr: string;
  code: number;
}

async function liveframe(args: string[], cwd: string, argv0: string[] = [process.execPath, BIN]): Promise<Result> {
  const proc = Bun.spawn([...argv0, ...args], {
    cwd,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1", HOME: cwd },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

const HELLO_APP = `export default { fetch: () => new Response("hi") };\n`;
/** Counts requests in shared state (<runtime-dir>/state/counter.bin). */
const COUNTER_APP =
  `import { z } from "zod";\nimport { defineState } from ${JSON.stringify(SRC_INDEX)};\n\n` +
  `const s = defineState(z.object({ hits: z.int32() }), { name: "counter" });\n` +
  `export default { fetch: () => new Response(String(s.hits.add(1))) };\n`;

/** `liveframe start` in `cwd` with `rt`; resolves once it listens. */
async function startServer(cwd: string, rt: string, app = HELLO_APP) {
  writeFileSync(join(cwd, "app.ts"), app);
  const server = spawnCli(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "app.ts"], { cwd });
  cleanups.push(() => server.killAndWait());
  const port = Number((await server.waitFor(LISTENING))[1]);
  return { server, port };
}

/** `start` that must be refused before anything serves: exit 1, the message on stderr. */
async function refusedStart(cwd: string, rt: string): Promise<string> {
  writeFileSync(join(cwd, "app.ts"), HELLO_APP);
  const r = await liveframe(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "app.ts"], cwd);
  expect(r.code).toBe(1);
  expect(r.stdout).not.toContain("listening on");
  return r.stderr;
}

test("a runtime dir that is a symlink is refused, and its target (a 1777 dir) keeps its mode, sticky bit and contents", async () => {
  const cwd = tempDir();
  const target = join(cwd, "shared");
  mkdirSync(target);
  chmodSync(target, 0o1777);
  writeFileSync(join(target, "keep"), "x");
  const link = join(cwd, "rt");
  symlinkSync(target, link);
  const stderr = await refusedStart(cwd, link);
  expect(stderr).toContain(`runtime dir ${link} is a symbolic link (to ${target}): liveframe does not follow it`);
  expect(stderr).toContain("pass the real directory with --runtime-dir, or remove the link");
  expect(mode(target)).toBe("1777");
  expect(readdirSync(target)).toEqual(["keep"]);
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  // The CLI does not talk through one either.
  const status = await liveframe(["status", "--runtime-dir", link], cwd);
  expect(status.code).toBe(1);
  expect(status.stderr).toContain(`runtime dir ${link} is a symbolic link (to ${target}): a liveframe server never runs in one`);
}, 30_000);

test("a symlink or a file at the control socket path is refused, by start and by the CLI, and left as it is", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  mkdirSync(rt, { mode: 0o700 });
  const elsewhere = join(cwd, "elsewhere.sock");
  const sock = join(rt, "control.sock");
  symlinkSync(elsewhere, sock);
  expect(await refusedStart(cwd, rt)).toContain(`control socket path ${sock} is a symbolic link (to ${elsewhere}), not a socket: liveframe never follows one there; remove it (rm ${sock})`);
  expect(lstatSync(sock).isSymbolicLink()).toBe(true);
  const status = await liveframe(["status", "--runtime-dir", rt], cwd);
  expect(status.code).toBe(1);
  expect(status.stderr).toContain(`control socket path ${sock} is a symbolic link (to ${elsewhere}), not a socket`);
  rmSync(sock);
  writeFileSync(sock, "not a socket");
  expect(await refusedStart(cwd, rt)).toContain(`control socket path ${sock} is a file, not a socket: move it away`);
  expect(lstatSync(sock).isFile()).toBe(true);
}, 30_000);

test.skipIf(!IS_ROOT)("a runtime dir owned by another uid is refused even as root, and one inside a dir another uid owns too (skipped unless root: only root can chown)", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  mkdirSync(rt, { mode: 0o700 });
  chownSync(rt, OTHER_UID, OTHER_UID);
  expect(await refusedStart(cwd, rt)).toContain(
    `runtime dir ${rt} is owned by uid ${OTHER_UID}, not you (uid 0): someone else could steer this server (move its control socket away, plant a state file); remove it or pick another with --runtime-dir`,
  );
  expect(lstatSync(rt).uid).toBe(OTHER_UID);
  expect(mode(rt)).toBe("700");
  // Ours, but in a directory that uid owns: it could rename ours away and put its own there.
  const theirs = join(cwd, "theirs");
  mkdirSync(theirs, { mode: 0o755 });
  chownSync(theirs, OTHER_UID, OTHER_UID);
  const inner = join(theirs, "rt");
  mkdirSync(inner, { mode: 0o700 });
  expect(await refusedStart(cwd, inner)).toContain(
    `runtime dir ${inner} is inside ${theirs}, which uid ${OTHER_UID} owns: that user could replace the runtime dir while the server runs and steer it; pick a runtime dir in a directory only root can write`,
  );
}, 30_000);

test("a runtime dir writable by group or others is refused untouched; one inside a world-writable parent too, unless the parent is sticky; a merely readable one becomes 0700", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  mkdirSync(rt);
  chmodSync(rt, 0o777);
  writeFileSync(join(rt, "planted"), "");
  const planted = await refusedStart(cwd, rt);
  expect(planted).toMatch(new RegExp(`runtime dir ${rt} is writable by (its group \\(gid \\d+[^)]*\\) and )?others \\(mode 0777\\)`));
  expect(planted).toContain(`(mode 0777): someone else may have put files in it (a socket, a state file); check what is in it, then \`chmod 700 ${rt}\``);
  expect(mode(rt)).toBe("777");
  expect(readdirSync(rt)).toEqual(["planted"]);

  const open = join(cwd, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  const inOpen = await refusedStart(cwd, join(open, "rt"));
  expect(inOpen).toContain(`runtime dir ${join(open, "rt")} is inside ${open}, which `);
  expect(inOpen).toContain(`others may write (mode 0777, not sticky): they could replace the runtime dir while the server runs and steer it; \`chmod go-w ${open}\``);
  expect(existsSync(join(open, "rt"))).toBe(false); // refused before anything was made there

  // Sticky (like /tmp): others may add entries but not rename ours. Readable 0755 is tightened.
  chmodSync(open, 0o1777);
  const fine = join(open, "rt");
  mkdirSync(fine);
  chmodSync(fine, 0o755);
  const { server } = await startServer(cwd, fine);
  expect(server.output()).toContain(`runtime dir ${fine} was mode 0755: made it 0700`);
  expect(mode(fine)).toBe("700");
  expect(mode(join(fine, "control.sock"))).toBe("600");
  const status = await liveframe(["status", "--json", "--runtime-dir", fine], cwd);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).supervisorPid).toBe(server.proc.pid);
}, 60_000);

test("a runtime dir removed while serving comes back 0700 with its socket: status finds the server, a second start is refused as already running, and the counter state never goes back", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  const { server, port } = await startServer(cwd, rt, COUNTER_APP);
  const hit = async () => Number(await (await fetch(`http://127.0.0.1:${port}/`)).text());
  for (let i = 1; i <= 4; i++) expect(await hit()).toBe(i);
  const mark = server.mark();
  rmSync(rt, { recursive: true, force: true });
  // Either the control server notices first (recreates the dir), or the serving generation's state
  // restore has already made the dir again (0700) and the control server only rebinds its socket.
  await server.waitFor(/runtime dir \S+ was (removed while serving: recreated it \(mode 0700\)|replaced while serving: made) .*control socket/, 10_000, mark);
  expect(mode(rt)).toBe("700");
  expect(lstatSync(join(rt, "control.sock")).isSocket()).toBe(true);
  expect(mode(join(rt, "control.sock"))).toBe("600");

  const status = await liveframe(["status", "--json", "--runtime-dir", rt], cwd);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).supervisorPid).toBe(server.proc.pid);
  const second = await liveframe(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "app.ts"], cwd);
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(`another liveframe supervisor is already running with runtime dir ${rt}`);
  expect(second.stderr).not.toContain("EADDRINUSE");

  // The serving generation still counts on: 5.
  expect(await hit()).toBe(5);
  // A reload must not start the state empty: either it is refused while the state file is
  // missing (and says so), or the file was restored from the live values first.
  const reload = await liveframe(["reload", "--runtime-dir", rt], cwd);
  if (reload.code !== 0) {
    expect(reload.code).toBe(1);
    expect(reload.stderr).toContain(`state file ${join(rt, "state", "counter.bin")} is missing (was the runtime dir removed?): a reload now would start that state empty`);
  }
  expect(await hit()).toBe(6);
  // The same for SIGHUP, which nobody waits on: the refusal is in the log.
  const beforeHup = server.mark();
  server.kill("SIGHUP");
  const line = await server.waitFor(/reload of generation \d+ failed.*|generation \d+ → \d+ .*/, 30_000, beforeHup);
  if (line[0].includes("failed")) expect(line[0]).toContain("state file");
  expect(await hit()).toBe(7);
  const stop = await liveframe(["stop", "--runtime-dir", rt], cwd);
  expect(stop.code).toBe(0);
  expect(await server.proc.exited).toBe(0);
  expect(existsSync(join(rt, "control.sock"))).toBe(false);
}, 90_000);

test("a runtime dir replaced by a symlink while serving is not followed: logged once, the target keeps its mode, the server serves on; once the link is gone the dir comes back", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  const { server, port } = await startServer(cwd, rt);
  const target = join(cwd, "shared");
  mkdirSync(target);
  chmodSync(target, 0o1777);
  const mark = server.mark();
  rmSync(rt, { recursive: true, force: true });
  symlinkSync(target, rt);
  await server.waitFor(/runtime dir \S+ was replaced while serving and cannot be restored: runtime dir \S+ is a symbolic link .*kill -HUP \d+ reloads/, 10_000, mark);
  expect(mode(target)).toBe("1777");
  expect(readdirSync(target)).toEqual([]);
  expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("hi");
  rmSync(rt);
  await server.waitFor(/runtime dir \S+ was removed while serving: recreated it \(mode 0700\)/, 10_000, mark);
  expect(server.output().slice(mark).match(/cannot be restored/g)?.length).toBe(1); // once, not every second
  const status = await liveframe(["status", "--json", "--runtime-dir", rt], cwd);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).supervisorPid).toBe(server.proc.pid);
  expect(mode(target)).toBe("1777");
}, 60_000);

test.skipIf(!IS_ROOT)("a user who may not control the server gets permission denied (exit 77) with the owner and what to do, never 'no server' (skipped unless root: only root can run the CLI as another uid)", async () => {
  const cwd = tempDir();
  const rt = join(cwd, "rt");
  await startServer(cwd, rt);
  const reachable = reachableBun(cleanups);
  const asNobody = [...AS_OTHER_UID, reachable.bun, await reachable.cli()];
  const as = (cmd: string) => liveframe([cmd, "--runtime-dir", rt], "/", asNobody);

  // cwd is 0700 (mkdtemp): nobody cannot even look for the runtime dir.
  const hidden = await as("status");
  expect(hidden.stderr).toContain(`permission denied (EACCES): cannot look into a directory above the runtime dir ${rt}; you are uid ${OTHER_UID}: run \`liveframe status\` as the user that started the server, or as root`);
  expect(hidden.code).toBe(77);

  // It can reach the runtime dir, which is 0700 and root's.
  chmodSync(cwd, 0o711);
  const closed = await as("reload");
  expect(closed.stderr).toContain(`permission denied (EACCES): the runtime dir ${rt} belongs to uid 0 (mode 0700) and only its owner may enter it; you are uid ${OTHER_UID}: run \`liveframe reload\` as uid 0 (e.g. sudo -u '#0' liveframe reload) or as root`);
  expect(closed.code).toBe(77);

  // Into the dir: the socket is root's, and the supervisor answers only root (SO_PEERCRED);
  // the CLI says so before connecting, also when the socket is opened up on purpose.
  chmodSync(rt, 0o711);
  for (const socketMode of [0o600, 0o666]) {
    chmodSync(join(rt, "control.sock"), socketMode);
    for (const cmd of ["stop", "reload", "status"]) {
      const r = await as(cmd);
      expect(r.stderr).toContain(
        `permission denied: the supervisor at ${join(rt, "control.sock")} runs as uid 0 and answers only uid 0 or root; you are uid ${OTHER_UID}: run \`liveframe ${cmd}\` as uid 0`,
      );
      expect(r.code).toBe(77);
    }
  }
  // Nothing happened: the owner still finds generation 1, no reload.
  const status = await liveframe(["status", "--json", "--runtime-dir", rt], cwd);
  expect(status.code).toBe(0);
  const s = JSON.parse(status.stdout) as { generation: number; reloads: unknown[] };
  expect(s.generation).toBe(1);
  expect(s.reloads).toEqual([]);
  // No server at all is still exit 3 for anyone.
  const none = await liveframe(["status", "--runtime-dir", join(cwd, "none")], cwd);
  expect(none.code).toBe(3);
}, 60_000);
