// State across generations, through the real CLI: exact counts while reloading, values kept
// across stop/start, a schema that appends a field, and a changed field type that makes the
// reload fail (naming the field) while the old generation keeps serving.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const REPO = new URL("..", import.meta.url).pathname;
const cleanups = cleanupAfterEach();

/** An app whose state schema is `fields` (zod source); GET /inc adds 1, /set?v= sets `note`, / shows all. */
function app(fields: string): string {
  return `import { z } from "zod";
import { defineState } from ${JSON.stringify(join(REPO, "src/index.ts"))};
const state = defineState(z.object({ ${fields} }));
export default {
  fetch(req: Request) {
    const url = new URL(req.url);
    if (url.pathname === "/inc") return new Response(String(state.hits.add(1)));
    if (url.pathname === "/set") { state.note.set(url.searchParams.get("v") ?? ""); return new Response("ok"); }
    return new Response(JSON.stringify(state.snapshot()), { headers: { "content-type": "application/json" } });
  },
};
`;
}
const V1 = `hits: z.int32(), note: z.string().max(64)`;
const V2 = `${V1}, visits: z.uint32()`;
const CHANGED = `hits: z.string().max(8), note: z.string().max(64)`;

function project(fields: string): string {
  const cwd = mkdtempSync(join(tmpdir(), "lf-state-reload-"));
  cleanups.push(() => rmSync(cwd, { recursive: true, force: true }));
  symlinkSync(join(REPO, "node_modules"), join(cwd, "node_modules")); // the app imports zod
  writeFileSync(join(cwd, "app.ts"), app(fields));
  writeFileSync(join(cwd, "liveframe.config.json"), JSON.stringify({ entry: "app.ts", port: 0, host: "127.0.0.1", runtimeDir: "run" }));
  return cwd;
}

async function liveframe(args: string[], cwd: string) {
  const proc = Bun.spawn([process.execPath, BIN, ...args], {
    cwd,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

async function start(cwd: string) {
  const server = spawnCli(["start"], { cwd });
  cleanups.push(async () => {
    server.kill("SIGKILL");
    await server.proc.exited;
  });
  const port = Number((await server.waitFor(LISTENING, 60_000))[1]);
  return { server, port };
}

test("4 keep-alive clients × 1500 increments while 6 reloads happen give exactly 6000", async () => {
  const cwd = project(V1);
  const { port } = await start(cwd);
  const clients = await Promise.all([1, 2, 3, 4].map(() => KeepAliveClient.connect(port)));
  for (const c of clients) cleanups.push(() => c.close());
  const failures: string[] = [];
  // Six rounds: in each, one reload runs while every client sends 250 increments.
  for (let round = 0; round < 6; round++) {
    const reload = liveframe(["reload"], cwd);
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 250; i++) {
          const r = await c.get("/inc", 30_000);
          if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        }
      }),
    );
    const outcome = await reload;
    expect(outcome.code, outcome.stderr).toBe(0);
  }
  expect(failures).toEqual([]);
  const final = JSON.parse((await clients[0]!.get("/")).body) as { hits: number };
  expect(final.hits).toBe(6000);
}, 240_000);

test("values survive stop and start; an appended field keeps every value; a changed type fails the reload naming the field", async () => {
  const cwd = project(V1);
  let { server, port } = await start(cwd);
  let client = await KeepAliveClient.connect(port);
  expect((await client.get("/set?v=h%C3%A9llo%20state")).body).toBe("ok");
  expect((await client.get("/inc")).body).toBe("1");
  client.close();
  const stop = await liveframe(["stop"], cwd);
  expect(stop.code, stop.stderr).toBe(0);
  expect(await server.proc.exited).toBe(0);

  ({ server, port } = await start(cwd));
  client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  expect(JSON.parse((await client.get("/")).body)).toEqual({ hits: 1, note: "héllo state" });

  writeFileSync(join(cwd, "app.ts"), app(V2));
  const appended = await liveframe(["reload"], cwd);
  expect(appended.code, appended.stderr).toBe(0);
  expect(JSON.parse((await client.get("/")).body)).toEqual({ hits: 1, note: "héllo state", visits: 0 });
  expect((await client.get("/inc")).body).toBe("2");

  writeFileSync(join(cwd, "app.ts"), app(CHANGED));
  const refused = await liveframe(["reload"], cwd);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('state field "hits" changed type from int32 to string(8)');
  // The old generation (schema V2) still serves, with its values, on the same connection.
  expect(JSON.parse((await client.get("/")).body)).toEqual({ hits: 2, note: "héllo state", visits: 0 });
  expect((await client.get("/inc")).body).toBe("3");
}, 240_000);
