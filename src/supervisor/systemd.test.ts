// sd_notify on a real AF_UNIX datagram socket bound here (path and abstract), and
// LISTEN_FDS adoption in a real child process whose fd 3 is a listening socket.
import { expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AF_UNIX,
  check,
  close,
  createListener,
  libc,
  recvFds,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from "../../ffi/index.ts";
import { listenFdsFromEnv, monotonicMicros, notifyOnEvent, SystemdNotifier, unixAddress } from "./systemd.ts";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";

const cleanups = cleanupAfterEach();

/** Binds a datagram socket the way systemd does for NOTIFY_SOCKET; returns its fd. */
function bindNotifySocket(path: string): number {
  const fd = check("socket", libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  cleanups.push(() => close(fd));
  const addr = unixAddress(path);
  check("bind", libc.bind(fd, ptr(addr.bytes), addr.length));
  return fd;
}

function drain(fd: number): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 0; i < 100; i++) {
    const m = recvFds(fd, { nonBlocking: true, maxFds: 1 });
    if (!m) break;
    const fields: Record<string, string> = {};
    for (const line of new TextDecoder().decode(m.data).split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    out.push(fields);
  }
  return out;
}

test("sd_notify: READY, RELOADING with MONOTONIC_USEC, STOPPING and STATUS reach a path socket", () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-notify-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "notify.sock");
  const sock = bindNotifySocket(path);
  const env: Record<string, string | undefined> = { NOTIFY_SOCKET: path };
  const n = SystemdNotifier.fromEnv(env)!;
  cleanups.push(() => n.close());
  expect(env.NOTIFY_SOCKET).toBeUndefined(); // not passed on to generations

  const before = monotonicMicros();
  expect(n.ready("serving", 4242)).toBe(true);
  expect(n.reloading("reloading")).toBe(true);
  const after = monotonicMicros();
  expect(n.stopping("bye")).toBe(true);

  const got = drain(sock);
  expect(got).toHaveLength(3);
  expect(got[0]).toEqual({ READY: "1", MAINPID: "4242", STATUS: "serving" });
  expect(got[1]!.RELOADING).toBe("1");
  const usec = BigInt(got[1]!.MONOTONIC_USEC!);
  expect(usec >= before && usec <= after).toBe(true);
  expect(got[2]).toEqual({ STOPPING: "1", STATUS: "bye" });
});

test("sd_notify: an abstract NOTIFY_SOCKET (@name) works, and events map to the Type=notify-reload protocol", () => {
  const name = `@liveframe-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const sock = bindNotifySocket(name);
  const n = new SystemdNotifier(name);
  cleanups.push(() => n.close());
  const onEvent = notifyOnEvent(n, 99);
  onEvent({ type: "ready", generation: 1, pid: 10 });
  onEvent({ type: "reloading", from: 1 });
  onEvent({ type: "reloaded", outcome: { ok: true, from: 1, to: 2, pid: 11 } });
  onEvent({ type: "reloading", from: 2 });
  onEvent({ type: "reload-failed", outcome: { ok: false, from: 2, error: "SyntaxError at app.ts:3" } });
  onEvent({ type: "generation-exited", generation: 2 }); // no message
  onEvent({ type: "stopping" });
  const got = drain(sock);
  expect(got.map((m) => Object.keys(m).filter((k) => k !== "STATUS" && k !== "MONOTONIC_USEC" && k !== "MAINPID"))).toEqual([
    ["READY"],
    ["RELOADING"],
    ["READY"],
    ["RELOADING"],
    ["READY"],
    ["STOPPING"],
  ]);
  expect(got[0]!.MAINPID).toBe("99");
  expect(got[1]!.MONOTONIC_USEC).toMatch(/^\d+$/);
  expect(got[2]!.STATUS).toContain("generation 2");
  expect(got[4]!.STATUS).toContain("SyntaxError at app.ts:3");
});

test("sd_notify: a NOTIFY_SOCKET nobody listens on is a clear error at start, and later send failures never throw", () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-notify-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  expect(() => new SystemdNotifier(join(dir, "absent.sock"))).toThrow(/connect: ENOENT.*NOTIFY_SOCKET/);
  expect(() => unixAddress("x".repeat(200))).toThrow(/1 to 107 bytes/);

  const path = join(dir, "gone.sock");
  const sock = bindNotifySocket(path);
  const errors: string[] = [];
  const n = new SystemdNotifier(path, (m) => errors.push(m));
  cleanups.push(() => n.close());
  close(sock);
  cleanups.pop();
  expect(n.ready("x")).toBe(false);
  expect(n.ready("x")).toBe(false);
  expect(errors).toHaveLength(1); // reported once, not once per event
  expect(errors[0]).toContain("systemd notification failed");
});

test("LISTEN_FDS: ignored unless LISTEN_PID is this process; malformed counts are clear errors", () => {
  expect(listenFdsFromEnv({}, 1)).toBeUndefined();
  expect(listenFdsFromEnv({ LISTEN_FDS: "1" }, 1)).toBeUndefined();
  const other = { LISTEN_FDS: "1", LISTEN_PID: "2" } as Record<string, string | undefined>;
  expect(listenFdsFromEnv(other, 1)).toBeUndefined();
  expect(other.LISTEN_FDS).toBeUndefined(); // cleared either way
  expect(() => listenFdsFromEnv({ LISTEN_FDS: "two", LISTEN_PID: "7" }, 7)).toThrow(/LISTEN_FDS="two"/);
});

test("LISTEN_FDS: a child whose fd 3 is systemd's listener adopts it (fds start at 3)", async () => {
  const { fd, address } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 8 });
  cleanups.push(() => close(fd));
  const mod = new URL("./systemd.ts", import.meta.url).pathname;
  const ffi = new URL("../../ffi/index.ts", import.meta.url).pathname;
  const code =
    `const s = await import(${JSON.stringify(mod)}); const f = await import(${JSON.stringify(ffi)});` +
    `const fds = s.listenFdsFromEnv(process.env);` +
    `console.log(JSON.stringify({ fds, port: f.getSockName(fds[0]).port, listening: f.isListening(fds[0]), env: process.env.LISTEN_FDS ?? null }));`;
  // `exec` keeps the shell's pid, so LISTEN_PID=$$ names the bun process, as systemd does.
  const proc = Bun.spawn(["sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -e "$1"`, process.execPath, code], {
    stdio: ["ignore", "pipe", "pipe", fd] as never,
  });
  cleanups.push(() => proc.kill(9));
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(await proc.exited).toBe(0);
  expect(err).toBe("");
  expect(JSON.parse(out)).toEqual({ fds: [3], port: address.port, listening: true, env: null });
});
