// `liveframe dev` end to end: a save is served on the SAME keep-alive connection; a syntax
// error or a throwing import keeps the last good generation serving and says where; the
// next good save reloads.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, type CliProcess, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const cleanups = cleanupAfterEach();

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "lf-dev-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function dev(cwd: string, args: string[]): CliProcess {
  const cli = spawnCli(["dev", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(cwd, ".rt"), ...args], { cwd });
  cleanups.push(() => cli.killAndWait());
  return cli;
}

const app = (body: string) => `export default { fetch: () => new Response(${JSON.stringify(body)}) };\n`;

/** Polls on `client` (never a new connection) until the body is `want`; bounded. */
async function until(client: KeepAliveClient, want: string, timeoutMs = 20_000): Promise<number> {
  const t0 = Date.now();
  let last = "";
  while (Date.now() - t0 < timeoutMs) {
    last = (await client.get("/")).body;
    if (last === want) return Date.now() - t0;
    await Bun.sleep(25);
  }
  throw new Error(`still serving ${JSON.stringify(last)} after ${timeoutMs} ms, wanted ${JSON.stringify(want)}`);
}

test("an edit is served on the same keep-alive connection; errors keep the old generation; a fix reloads", async () => {
  const t0 = Date.now();
  const step = (what: string) => process.env.LF_TEST_TRACE && console.log(`${Date.now() - t0} ms: ${what}`);
  const cwd = tempDir();
  const entry = join(cwd, "app.ts");
  writeFileSync(entry, app("v1"));
  const cli = dev(cwd, ["app.ts"]);
  const port = Number((await cli.waitFor(LISTENING))[1]);
  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  expect((await client.get("/")).body).toBe("v1");
  const localPort = client.localPort;

  step("serving v1");
  // 1. A save is served on the same connection.
  let mark = cli.mark();
  writeFileSync(entry, app("v2"));
  await until(client, "v2");
  await cli.waitFor(/generation 2 \(app\.ts changed\)/, 20_000, mark);

  step("v2 served");
  // 2. A syntax error: the file and line are printed, v2 keeps serving on the same connection.
  mark = cli.mark();
  writeFileSync(entry, "export default {\n  fetch: () => new Response(\"v3\"\n};\n");
  await cli.waitFor(/app\.ts:\d+:\d+/, 20_000, mark);
  expect(cli.output().slice(mark)).toContain("still serving generation 2");
  expect((await client.get("/")).body).toBe("v2");

  step("syntax error reported");
  // 3. A module that throws at import: the reload fails with the error, v2 keeps serving.
  mark = cli.mark();
  writeFileSync(entry, `throw new Error("boom while importing");\n${app("never")}`);
  await cli.waitFor(/boom while importing/, 30_000, mark);
  expect(cli.output().slice(mark)).toContain("reload failed");
  expect((await client.get("/")).body).toBe("v2");

  step("throwing import reported");
  // 4. The next good save reloads.
  writeFileSync(entry, app("v3"));
  await until(client, "v3");
  expect(client.closed).toBe(false);
  expect(client.localPort).toBe(localPort);

  step("v3 served");
  cli.kill("SIGTERM");
  expect(await cli.proc.exited).toBe(0);
  step("stopped");
}, 120_000);

test("an app that cannot start under dev is reported, and the next good save starts it", async () => {
  const cwd = tempDir();
  const entry = join(cwd, "app.ts");
  writeFileSync(entry, `throw new Error("not yet");\n`);
  const cli = dev(cwd, ["app.ts"]);
  await cli.waitFor(/not yet/);
  await cli.waitFor(/save to try again/);
  writeFileSync(entry, app("ready now"));
  const port = Number((await cli.waitFor(LISTENING))[1]);
  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  expect((await client.get("/")).body).toBe("ready now");
  cli.kill("SIGTERM");
  expect(await cli.proc.exited).toBe(0);
}, 60_000);

const hasScript = Bun.which("script") !== null;
test.skipIf(!hasScript)("on a terminal, r + Enter reloads and q + Enter quits (skipped only where util-linux `script`, our pty, is missing)", async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, "app.ts"), app("tty"));
  const command = [process.execPath, BIN, "dev", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(cwd, ".rt"), "app.ts"]
    .map((w) => `'${w.replace(/'/g, "'\\''")}'`)
    .join(" ");
  // `script` gives the CLI a pseudo-terminal as stdin/stdout, as a developer's shell would.
  const proc = Bun.spawn(["script", "-qfec", command, "/dev/null"], {
    cwd,
    env: { ...(process.env as Record<string, string>), NO_COLOR: "1" },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 600 && !re.test(out); i++) await Bun.sleep(50);
    if (!re.test(out)) throw new Error(`no ${re} in:\n${out}`);
  };
  await waitFor(/r \+ Enter reloads, q \+ Enter quits/);
  proc.stdin.write("r\n");
  await proc.stdin.flush();
  await waitFor(/generation 2 \(manual reload\)/);
  proc.stdin.write("q\n");
  await proc.stdin.flush();
  await waitFor(/stopped/);
  expect(await proc.exited).toBe(0);
}, 60_000);

test("a save's line is printed while a stream is still open in the old generation, which dev drains briefly (3 s by default): the stream is cut there and the log says so", async () => {
  const cwd = tempDir();
  const entry = join(cwd, "app.ts");
  const streaming = (v: string) =>
    `export default { fetch: (req: Request) => new URL(req.url).pathname === "/sse"
  ? new Response(new ReadableStream({ async pull(c) { await Bun.sleep(50); c.enqueue("data: ${v}\\n\\n"); } }))
  : new Response(${JSON.stringify(v)}) };\n`;
  writeFileSync(entry, streaming("v1"));
  const cli = dev(cwd, ["app.ts"]);
  const port = Number((await cli.waitFor(LISTENING))[1]);
  const { connect } = await import("node:net");
  let raw = "";
  let closed = false;
  const sse = connect(port, "127.0.0.1");
  cleanups.push(() => void sse.destroy());
  sse.setEncoding("latin1");
  sse.on("data", (d: string) => (raw += d));
  sse.on("close", () => (closed = true));
  sse.write("GET /sse HTTP/1.1\r\nhost: t\r\n\r\n");
  for (let i = 0; i < 400 && !raw.includes("data: v1"); i++) await Bun.sleep(25);
  expect(raw).toContain("data: v1");
  const mark = cli.mark();
  writeFileSync(entry, streaming("v2"));
  await cli.waitFor(/generation 2 \(app\.ts changed\) serving in/, 20_000, mark);
  // Printed while the old generation still streams: the reload did not wait for the stream.
  const eventsAtLine = raw.split("data: v1").length;
  expect(closed).toBe(false);
  for (let i = 0; i < 400 && raw.split("data: v1").length <= eventsAtLine; i++) await Bun.sleep(25);
  expect(raw.split("data: v1").length).toBeGreaterThan(eventsAtLine);
  // Dev's short drain then cuts it, and says so.
  await cli.waitFor(/generation 1 drained: 0 requests completed, 1 cut, 0 connections handed over late/, 30_000, mark);
  for (let i = 0; i < 400 && !closed; i++) await Bun.sleep(25);
  expect(closed).toBe(true);
}, 60_000);
