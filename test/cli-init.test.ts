// `liveframe init`: the generated app type-checks, its own test passes, and it starts under
// `liveframe start` and answers; a non-empty directory is refused unless --force.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const cleanups = cleanupAfterEach();

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-init-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function run(cmd: string[], cwd: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn(cmd, { cwd, env: { ...(process.env as Record<string, string>), NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  cleanups.push(() => void proc.kill(9));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

const liveframe = (args: string[], cwd: string) => run([process.execPath, BIN, ...args], cwd);

/** What `npm install` would give the app, without the network: links to this checkout's packages. */
function linkDependencies(app: string): void {
  const nm = join(app, "node_modules");
  mkdirSync(join(nm, "@types"), { recursive: true });
  symlinkSync(ROOT, join(nm, "liveframe"));
  for (const pkg of ["hono", "zod", "typescript", "@types/bun", "bun-types", "@types/node", "undici-types"]) {
    if (existsSync(join(ROOT, "node_modules", pkg))) symlinkSync(join(ROOT, "node_modules", pkg), join(nm, pkg));
  }
}

for (const template of ["basic", "api"] as const) {
  test(`init --template ${template}: package.json scripts, tsc clean, its test passes, it starts and answers`, async () => {
    const cwd = tempDir();
    const made = await liveframe(["init", "My App", "--template", template], cwd);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain("npm run dev");
    const app = join(cwd, "My App");
    const pkg = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as {
      name: string;
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      allowScripts?: Record<string, boolean>;
    };
    expect(pkg.name).toBe("my-app");
    for (const s of ["dev", "start", "reload", "test"]) expect(pkg.scripts[s]).toBeDefined();
    expect(pkg.dependencies.liveframe).toBe(`file:${ROOT}`); // made from a checkout: installs from it
    expect(pkg.dependencies.hono).toMatch(/^\^?\d/);
    // npm 11 runs bun's postinstall (it links the native binary) without the "not yet covered by allowScripts" warning.
    expect(pkg.allowScripts).toEqual({ bun: true });
    for (const f of ["tsconfig.json", ".gitignore", "bunfig.toml", "src/app.ts", "src/app.test.ts"]) expect(existsSync(join(app, f))).toBe(true);

    linkDependencies(app);
    const tsc = await run([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", "."], app);
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);
    const testTmp = tempDir();
    const tests = await run([process.execPath, "test"], app, { TMPDIR: testTmp });
    expect(tests.stderr).toMatch(/\d+ pass/);
    expect(tests.stderr).toContain(" 0 fail");
    expect(tests.code).toBe(0);
    // The app's tests used a private runtime dir, removed afterwards: the live app's state is untouched.
    expect(existsSync(join(app, ".liveframe"))).toBe(false);
    expect(readdirSync(testTmp).filter((e) => e.startsWith("liveframe-test-"))).toEqual([]);

    // `npm start` runs `liveframe start src/app.ts`; here with a free port.
    const rt = join(app, ".liveframe-test");
    const server = spawnCli(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", rt, "src/app.ts"], { cwd: app });
    cleanups.push(() => server.killAndWait());
    const port = Number((await server.waitFor(LISTENING))[1]);
    const client = await KeepAliveClient.connect(port);
    cleanups.push(() => client.close());
    const res = template === "basic" ? await client.get("/") : await client.get("/api/stats");
    expect(res.status).toBe(200);
    expect(res.body).toContain(template === "basic" ? "Hello from generation 1" : '"generation":1');
    const stop = await liveframe(["stop", "--runtime-dir", rt], app);
    expect(stop.code).toBe(0);
    expect(await server.proc.exited).toBe(0);
  }, 120_000);
}

test("init refuses a non-empty directory unless --force, and names unknown templates", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "notes.txt"), "mine");
  const refused = await liveframe(["init"], cwd);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("is not empty (notes.txt)");
  expect(refused.stderr).toContain("--force");
  expect(existsSync(join(cwd, "package.json"))).toBe(false);

  const forced = await liveframe(["init", "--force"], cwd);
  expect(forced.code).toBe(0);
  expect(existsSync(join(cwd, "src/app.ts"))).toBe(true);
  expect(readFileSync(join(cwd, "notes.txt"), "utf8")).toBe("mine"); // only the template's files are written

  const unknown = await liveframe(["init", "x", "--template", "apj"], cwd);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown template "apj": did you mean "api"?');
}, 30_000);
