// The operator's commands against a real `liveframe start`: a config file applied (port 0,
// health), status text and JSON, reload output and exit codes (good and failed), stop.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const cleanups = cleanupAfterEach();

async function liveframe(args: string[], cwd: string) {
  const proc = Bun.spawn([process.execPath, BIN, ...args], { cwd, env: { ...(process.env as Record<string, string>), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("start with a config file; status, reload (ok and failed) and stop print what happened and exit as documented", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "lf-start-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, "app.ts"), `export default { fetch: () => new Response("one") };\n`);
  // Everything from the config file: the command line names nothing but the command.
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ entry: "app.ts", port: 0, host: "127.0.0.1", health: true, runtimeDir: "run" }));
  const server = spawnCli(["start"], { cwd });
  cleanups.push(() => server.killAndWait());
  const port = Number((await server.waitFor(LISTENING))[1]);
  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  const health = await client.get("/__liveframe/health");
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ generation: 1 });

  // reload/status/stop find the server through the same config file's runtimeDir.
  const json = await liveframe(["status", "--json"], cwd);
  expect(json.code).toBe(0);
  const s1 = JSON.parse(json.stdout) as { supervisorPid: number; generation: number; generationPid: number };
  expect(s1.supervisorPid).toBe(server.proc.pid);
  expect(s1.generation).toBe(1);
  const text = await liveframe(["status"], cwd);
  expect(text.stdout).toContain(`generation   1 (pid ${s1.generationPid})`);
  expect(text.stdout).toContain(`127.0.0.1:${port}`);

  const ok = await liveframe(["reload"], cwd);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/generation 1 → 2 \(pid \d+\) ready in \d+ ms, 1 connection handed over, no request in flight, \d+ ms total/);
  expect((await client.get("/")).body).toBe("one"); // same connection, new generation

  writeFileSync(join(cwd, "app.ts"), `throw new Error("missing DATABASE_URL");\n`);
  const failed = await liveframe(["reload", "--timeout", "20"], cwd);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toContain("reload of generation 2 failed");
  expect(failed.stderr).toContain("missing DATABASE_URL");
  expect((await client.get("/")).body).toBe("one");

  const s2 = JSON.parse((await liveframe(["status", "--json"], cwd)).stdout) as { generation: number; supervisorPid: number };
  expect(s2).toMatchObject({ generation: 2, supervisorPid: server.proc.pid });

  const stop = await liveframe(["stop"], cwd);
  expect(stop.code).toBe(0);
  expect(await server.proc.exited).toBe(0);
  const after = await liveframe(["status"], cwd);
  expect(after.code).toBe(3);
}, 120_000);
