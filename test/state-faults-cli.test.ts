// State file and state lock faults under a real server (the CLI, a supervisor, generations):
// the runtime dir deleted before a reload, the state file truncated while serving, a full
// filesystem when a reload grows the schema, and a live process that never releases the lock.
import { expect, test } from "bun:test";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { CHILD } from "./state-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const REPO = new URL("..", import.meta.url).pathname;
const cleanups = cleanupAfterEach();

/** GET /inc adds 1, /sync syncs, /update adds 1 under update(fn), / shows the state. */
function app(fields: string): string {
  return `import { z } from "zod";
import { defineState } from ${JSON.stringify(join(REPO, "src/index.ts"))};
const state = defineState(z.object({ ${fields} }));
export default {
  fetch(req: Request) {
    const url = new URL(req.url);
    if (url.pathname === "/inc") return new Response(String(state.hits.add(1)));
    if (url.pathname === "/sync") { state.sync(); return new Response("synced"); }
    if (url.pathname === "/update") return new Response(String(state.update((d) => { d.hits += 1; }).hits));
    return new Response(JSON.stringify(state.snapshot()), { headers: { "content-type": "application/json" } });
  },
};
`;
}
const V1 = `hits: z.int32()`;
const BIG = `${V1}, blob: z.string().max(32768)`;

function project(fields: string, runtimeDir = "run"): string {
  const cwd = fs.mkdtempSync(join(tmpdir(), "lf-state-faults-"));
  cleanups.push(() => fs.rmSync(cwd, { recursive: true, force: true }));
  fs.symlinkSync(join(REPO, "node_modules"), join(cwd, "node_modules"));
  fs.writeFileSync(join(cwd, "app.ts"), app(fields));
  fs.writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ entry: "app.ts", port: 0, host: "127.0.0.1", runtimeDir }));
  return cwd;
}

async function start(cwd: string) {
  const server = spawnCli(["start"], { cwd });
  cleanups.push(() => server.killAndWait());
  const port = Number((await server.waitFor(LISTENING, 60_000))[1]);
  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  return { server, port, client };
}

test("the runtime dir deleted while serving (rm -rf), then SIGHUP: the state comes back, not reset (4 → 5)", async () => {
  const cwd = project(V1);
  const { server, client } = await start(cwd);
  for (let i = 1; i <= 4; i++) expect((await client.get("/inc")).body).toBe(String(i));
  fs.rmSync(join(cwd, "run"), { recursive: true, force: true });
  const mark = server.mark();
  server.kill("SIGHUP");
  await server.waitFor(/generation 1 → 2 .*ready in|reload of generation 1 failed.*/, 60_000, mark);
  expect(server.output().slice(mark)).not.toContain("failed");
  expect((await client.get("/inc")).body).toBe("5");
  expect(fs.existsSync(join(cwd, "run", "state", "default.bin"))).toBe(true);
  expect(server.output()).toContain("was deleted while in use: restored it");
}, 120_000);

test("the state file truncated to 0 while serving: no crash, the count is intact", async () => {
  const cwd = project(V1);
  const { server, client } = await start(cwd);
  for (let i = 1; i <= 5; i++) expect((await client.get("/inc")).body).toBe(String(i));
  expect((await client.get("/sync")).body).toBe("synced"); // the repair copy is as of now
  fs.truncateSync(join(cwd, "run", "state", "default.bin"), 0);
  expect((await client.get("/inc")).body).toBe("6");
  expect((await client.get("/")).body).toBe(JSON.stringify({ hits: 6 }));
  // Said within a check interval (the repair itself happened on the first touch).
  await server.waitFor(/was truncated to 0 bytes while in use/, 30_000);
  expect(server.output()).not.toContain("Bun has crashed");
  expect(server.output()).not.toContain("generation 1 exited");
}, 120_000);

test("the state file truncated to 0, then a reload at once: the new generation waits for the repair, the count goes on (never backwards)", async () => {
  const cwd = project(V1);
  const { server, client } = await start(cwd);
  for (let i = 1; i <= 5; i++) expect((await client.get("/inc")).body).toBe(String(i));
  expect((await client.get("/sync")).body).toBe("synced");
  fs.truncateSync(join(cwd, "run", "state", "default.bin"), 0);
  const mark = server.mark();
  server.kill("SIGHUP");
  await server.waitFor(/generation 1 → 2 .*ready in|reload of generation 1 failed.*/, 60_000, mark);
  expect(server.output().slice(mark)).not.toContain("failed");
  expect((await client.get("/inc")).body).toBe("6");
}, 120_000);

test("the state file replaced while serving: the reload refuses the new file, the count never goes back; moving it away lets the next reload go on", async () => {
  const cwd = project(V1);
  const { server, port } = await start(cwd);
  let client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  for (let i = 1; i <= 4; i++) expect((await client.get("/inc")).body).toBe(String(i));
  // Another valid state file (hits 0) moved over the path.
  const file = join(cwd, "run", "state", "default.bin");
  const other = join(cwd, "other.bin");
  const made = Bun.spawnSync([process.execPath, CHILD, "define", other, "counterSchema"]);
  expect(made.stdout.toString()).toStartWith("ok");
  fs.renameSync(other, file);
  expect((await client.get("/inc")).body).toBe("5"); // the serving generation keeps its values
  let mark = server.mark();
  server.kill("SIGHUP");
  await server.waitFor(/reload of generation 1 failed.*serves from another file at this path/, 60_000, mark);
  expect(server.output()).toContain("was replaced while in use");
  client.close(); // idle for longer than the keep-alive timeout while the reload waited
  client = await KeepAliveClient.connect(port);
  expect((await client.get("/inc")).body).toBe("6");
  // Moved away: the serving generation puts its state back at the path, the reload goes on.
  fs.renameSync(file, join(cwd, "moved-away.bin"));
  mark = server.mark();
  server.kill("SIGHUP");
  await server.waitFor(/generation 1 → 2 .*ready in|reload of generation 1 failed.*/, 60_000, mark);
  expect(server.output().slice(mark)).not.toContain("failed");
  expect((await client.get("/inc")).body).toBe("7");
}, 120_000);

const probe = (() => {
  if (process.getuid?.() !== 0) return "not root";
  const dir = fs.mkdtempSync(join(tmpdir(), "liveframe-mount-probe-"));
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", dir]);
  if (r.exitCode === 0) Bun.spawnSync(["umount", dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  return r.exitCode === 0 ? "" : `mount -t tmpfs is not permitted: ${r.stderr.toString().trim()}`;
})();

test.skipIf(probe !== "")(
  `a reload that grows the state on a full filesystem fails with ENOSPC while the old generation serves${probe ? ` (skipped: ${probe})` : ""}`,
  async () => {
    const mnt = fs.mkdtempSync(join(tmpdir(), "lf-state-tiny-"));
    cleanups.push(() => fs.rmSync(mnt, { recursive: true, force: true }));
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", mnt]);
    expect(m.exitCode).toBe(0);
    cleanups.push(() => void Bun.spawnSync(["umount", "-l", mnt]));
    const cwd = project(V1, mnt);
    const { client } = await start(cwd);
    for (let i = 1; i <= 3; i++) expect((await client.get("/inc")).body).toBe(String(i));
    // Fill what is left of the filesystem.
    const fd = fs.openSync(join(mnt, "filler"), "w");
    try {
      for (let i = 0; i < 64; i++) fs.writeSync(fd, new Uint8Array(4096));
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOSPC") throw e;
    } finally {
      fs.closeSync(fd);
    }
    fs.writeFileSync(join(cwd, "app.ts"), app(BIG));
    const reload = Bun.spawn([process.execPath, BIN, "reload"], { cwd, env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    cleanups.push(() => void reload.kill(9));
    const [code, stderr] = await Promise.all([reload.exited, new Response(reload.stderr).text()]);
    expect(code).not.toBe(0);
    expect(stderr).toContain("the filesystem is full (ENOSPC)");
    expect((await client.get("/inc")).body).toBe("4");
  },
  120_000,
);

test("a live process that never releases the state lock: reads answer, updates fail naming it, a fresh generation's boot fails, SIGTERM stops the server", async () => {
  const cwd = project(V1);
  const { server, client } = await start(cwd);
  expect((await client.get("/update")).body).toBe("1");
  // A process (not of this server) that takes the lock inside update(fn) and sleeps there.
  const file = join(cwd, "run", "state", "default.bin");
  const holder = Bun.spawn([process.execPath, CHILD, "hold-lock", file], { stdout: "pipe", stderr: "pipe" });
  cleanups.push(() => void holder.kill(9));
  const reader = holder.stdout.getReader();
  let seen = "";
  while (!seen.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hold-lock exited: ${await new Response(holder.stderr).text()}`);
    seen += new TextDecoder().decode(value);
  }
  // Lock-free reads and adds answer at once.
  expect((await client.get("/inc")).body).toBe("2");
  expect(JSON.parse((await client.get("/")).body).hits).toBe(2);
  // An update waits a bounded time, then fails (500) with the holder named in the log.
  expect((await client.get("/update", 30_000)).status).toBe(500);
  await server.waitFor(new RegExp(`state lock of .* held by pid ${holder.pid}`), 30_000);
  expect((await client.get("/inc")).body).toBe("3");
  // A reload's new generation defines the state at boot (it takes the lock to read the
  // layout): its boot fails with the holder named instead of hanging, the old one serves on.
  const mark = server.mark();
  server.kill("SIGHUP");
  await server.waitFor(new RegExp(`reload of generation 1 failed.*state lock of .* held by pid ${holder.pid}`), 60_000, mark);
  expect((await client.get("/inc")).body).toBe("4");
  // SIGTERM stops the server while the holder still holds the lock.
  server.kill("SIGTERM");
  expect(await server.proc.exited).toBe(0);
}, 120_000);

test("a generation whose event loop is blocked: the first SIGTERM drains, a second SIGTERM stops the server at once", async () => {
  const cwd = fs.mkdtempSync(join(tmpdir(), "lf-state-faults-"));
  cleanups.push(() => fs.rmSync(cwd, { recursive: true, force: true }));
  // /spin blocks the generation's event loop for a minute: it cannot answer the supervisor's stop.
  fs.writeFileSync(
    join(cwd, "app.ts"),
    `export default { fetch(req: Request) { if (new URL(req.url).pathname === "/spin") { console.log("spinning"); const t = Date.now(); while (Date.now() - t < 60_000); } return new Response("ok"); } };\n`,
  );
  // A drain timeout far longer than this test's own timeout: only the second signal can end it in time.
  fs.writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ entry: "app.ts", port: 0, host: "127.0.0.1", runtimeDir: "run", drainTimeout: 600 }));
  const { server, client } = await start(cwd);
  expect((await client.get("/")).body).toBe("ok");
  const spinner = await KeepAliveClient.connect(Number(server.output().match(LISTENING)![1]));
  cleanups.push(() => spinner.close());
  void spinner.get("/spin", 90_000).catch(() => {});
  await server.waitFor(/spinning/, 30_000);
  server.kill("SIGTERM");
  await server.waitFor(/stopping/, 30_000);
  server.kill("SIGTERM");
  await server.waitFor(/SIGTERM again while stopping: ending every generation now/, 30_000);
  expect(await server.proc.exited).toBe(0);
}, 60_000);
