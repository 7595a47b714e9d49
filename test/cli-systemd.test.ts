// `liveframe start` under a NOTIFY_SOCKET, as systemd runs a Type=notify-reload unit: the
// datagram socket is bound here through ffi and every notification is read back.
import { expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AF_UNIX, check, close, createListener, libc, recvFds, SOCK_CLOEXEC, SOCK_DGRAM } from "../ffi/index.ts";
import { unixAddress } from "../src/supervisor/systemd.ts";
import { BIN, KeepAliveClient, LISTENING, spawnCli } from "./cli-support.ts";
import { cleanupAfterEach } from "./support/cleanups.ts";

const cleanups = cleanupAfterEach();

type Note = Record<string, string>;

/** Reads every queued notification (non-blocking). */
function readNotes(fd: number): Note[] {
  const notes: Note[] = [];
  for (let i = 0; i < 100; i++) {
    const m = recvFds(fd, { nonBlocking: true, maxFds: 1 });
    if (!m) break;
    const note: Note = {};
    for (const line of new TextDecoder().decode(m.data).split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) note[line.slice(0, eq)] = line.slice(eq + 1);
    }
    notes.push(note);
  }
  return notes;
}

async function waitForNote(fd: number, seen: Note[], key: string, timeoutMs = 30_000): Promise<Note> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    seen.push(...readNotes(fd));
    const hit = seen.find((n) => n[key] !== undefined);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no ${key}= notification within ${timeoutMs} ms; got ${JSON.stringify(seen)}`);
    await Bun.sleep(20);
  }
}

test("start speaks sd_notify: READY+MAINPID, RELOADING+MONOTONIC_USEC then READY on SIGHUP, STOPPING on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-sd-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "app.ts"), `export default { fetch: () => new Response("hi") };\n`);
  const path = join(dir, "notify.sock");
  const sock = check("socket", libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  cleanups.push(() => close(sock));
  const addr = unixAddress(path);
  check("bind", libc.bind(sock, ptr(addr.bytes), addr.length));

  const cli = spawnCli(["start", "--port", "0", "--host", "127.0.0.1", "--runtime-dir", join(dir, "rt"), "app.ts"], {
    cwd: dir,
    env: { NOTIFY_SOCKET: path },
  });
  cleanups.push(() => cli.killAndWait());
  const port = Number((await cli.waitFor(LISTENING))[1]);
  const ready = await waitForNote(sock, [], "READY");
  expect(ready.MAINPID).toBe(String(cli.proc.pid));
  expect(ready.STATUS).toContain("generation 1");

  const client = await KeepAliveClient.connect(port);
  cleanups.push(() => client.close());
  expect((await client.get("/")).body).toBe("hi");

  // systemd's ExecReload for Type=notify-reload is SIGHUP to the main pid.
  const afterReady: Note[] = [];
  cli.proc.kill("SIGHUP");
  const reloading = await waitForNote(sock, afterReady, "RELOADING");
  expect(reloading.RELOADING).toBe("1");
  expect(reloading.MONOTONIC_USEC).toMatch(/^\d+$/);
  const readyAgain = await waitForNote(sock, afterReady.splice(afterReady.indexOf(reloading) + 1), "READY");
  expect(readyAgain.STATUS).toContain("generation 2");
  expect((await client.get("/")).body).toBe("hi");

  cli.proc.kill("SIGTERM");
  const stopping = await waitForNote(sock, [], "STOPPING");
  expect(stopping.STOPPING).toBe("1");
  expect(await cli.proc.exited).toBe(0);
}, 60_000);

test("start under socket activation adopts systemd's listener (LISTEN_FDS=1, fd 3) instead of binding", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-sd-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "app.ts"), `export default { fetch: () => new Response("activated") };\n`);
  const { fd, address } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 16 });
  cleanups.push(() => close(fd));
  // `exec` keeps the shell's pid, so LISTEN_PID=$$ names the liveframe process, as systemd does.
  const proc = Bun.spawn(
    ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', process.execPath, BIN, "start", "--port", "1", "--runtime-dir", join(dir, "rt"), "app.ts"],
    { cwd: dir, env: { ...(process.env as Record<string, string>), NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe", fd] as never },
  );
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
  })();
  for (let i = 0; i < 600 && !LISTENING.test(out); i++) await Bun.sleep(50);
  // --port 1 was ignored: the port is the one of the socket systemd (this test) passed.
  expect(Number(out.match(LISTENING)?.[1])).toBe(address.port);
  close(fd); // only liveframe holds the listener now
  cleanups.pop();
  const client = await KeepAliveClient.connect(address.port);
  cleanups.push(() => client.close());
  expect((await client.get("/")).body).toBe("activated");
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}, 60_000);
