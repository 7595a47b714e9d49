// `liveframe dev` with no app in the directory serves templates/demo: generation, pid and a
// shared-state counter, over one keep-alive connection that a reload carries over.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const cleanups = cleanupAfterEach();

test("with no app in the directory, dev serves the demo page with the generation and shared counter", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-demo-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  const cli = spawnCli(["dev", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(cwd, ".rt")], { cwd });
  cleanups.push(() => cli.killAndWait());
  const port = Number((await cli.waitFor(LISTENING))[1]);
  await cli.waitFor(/serving the demo app/);
  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  const page = await client.get("/");
  expect(page.status).toBe(200);
  expect(page.body).toContain("liveframe demo: generation 1");
  const info = JSON.parse((await client.get("/api/info")).body) as { generation: number; pid: number; visits: number };
  expect(info.generation).toBe(1);
  expect(info.visits).toBeGreaterThanOrEqual(1);

  // A reload: the same connection now talks to generation 2, which adopted it, and the
  // counter carried on.
  const reload = Bun.spawn([process.execPath, BIN, "reload", "--runtime-dir", join(cwd, ".rt")], { stdout: "pipe", stderr: "pipe" });
  expect(await reload.exited).toBe(0);
  const after = JSON.parse((await client.get("/api/info")).body) as { generation: number; pid: number; visits: number; carriedOver: number };
  expect(after.generation).toBe(2);
  expect(after.pid).not.toBe(info.pid);
  expect(after.carriedOver).toBeGreaterThanOrEqual(1);
  expect(after.visits).toBe(info.visits);
  expect(client.closed).toBe(false);

  cli.kill("SIGTERM");
  expect(await cli.proc.exited).toBe(0);
}, 60_000);
