// At the file descriptor limit: recvmsg(2) of passed fds fails and says why (EMFILE, with the
// counts), and an FdReserve lent for the receive makes it succeed. Each case runs in a child
// process started under `ulimit -n 64`, so this test process keeps its own limit.
import { expect, test } from "bun:test";
import { FdReserve, fileLimit, getResourceLimit, openFdCount } from "./index.ts";

const FFI = new URL("./index.ts", import.meta.url).pathname;
const FD_LIMIT = 64;

/** Runs `body` in a Bun child whose RLIMIT_NOFILE is FD_LIMIT (soft and hard); returns its JSON output. */
async function atLimit(body: string): Promise<Record<string, unknown>> {
  const code = `const f = await import(${JSON.stringify(FFI)}); const { openSync } = await import("node:fs");
    /** Opens /dev/null until EMFILE: every slot of the fd table is taken. */
    const fill = () => { const held = []; for (;;) { try { held.push(openSync("/dev/null", "r")); } catch { return held; } } };
    const out = {}; ${body}; console.log(JSON.stringify(out));`;
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${FD_LIMIT} && exec "$0" -e "$1"`, process.execPath, code], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exit !== 0) throw new Error(`child exited ${exit}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

test("fileLimit and openFdCount describe this process", () => {
  expect(fileLimit()).toBeGreaterThan(0);
  const open = openFdCount()!;
  expect(open).toBeGreaterThan(2);
  expect(open).toBeLessThanOrEqual(fileLimit());
});

test("receiving fds with no free slot fails as EMFILE naming the limit, not as a too-small buffer", async () => {
  const out = await atLimit(`
    const [a, b] = f.socketPair(f.SOCK_SEQPACKET);
    const sent = [openSync("/dev/null", "r"), openSync("/dev/null", "r")];
    f.sendFds(a, sent, new TextEncoder().encode("x"));
    fill();
    try { f.recvFds(b, { maxFds: 253, nonBlocking: true }); out.received = true; }
    catch (e) { out.code = e.code; out.message = e.message; }`);
  expect(out.received).toBeUndefined();
  expect(out.code).toBe("EMFILE");
  expect(out.message).toContain("out of file descriptors");
  expect(out.message).toContain(`${FD_LIMIT}`);
  expect(out.message).not.toContain("more than");
});

test("an FdReserve lent for the receive lets every fd arrive at the limit, and is refilled after", async () => {
  const out = await atLimit(`
    const [a, b] = f.socketPair(f.SOCK_SEQPACKET);
    const sent = [openSync("/dev/null", "r"), openSync("/dev/null", "r")];
    f.sendFds(a, sent, new TextEncoder().encode("x"));
    for (const fd of sent) f.close(fd);
    const reserve = new f.FdReserve(4);
    out.before = reserve.size;
    fill();
    const got = reserve.lend(2, () => f.recvFds(b, { maxFds: 253, nonBlocking: true }));
    out.fds = got.fds.length;
    out.after = reserve.size;
    for (const fd of got.fds) f.close(fd);
    reserve.refill();
    out.refilled = reserve.size;`);
  expect(out).toEqual({ before: 4, fds: 2, after: 2, refilled: 4 });
});

test("an FdReserve holds its spares, refills after a release, and gives back every fd on dispose", () => {
  const before = openFdCount()!;
  const r = new FdReserve(3);
  expect(r.size).toBe(3);
  expect(openFdCount()).toBe(before + 4); // the /dev/null source and 3 copies
  expect(r.release(2)).toBe(2);
  expect(r.size).toBe(1);
  r.refill();
  expect(r.size).toBe(3);
  r.dispose();
  expect(openFdCount()).toBe(before);
});

const HARD_LIMIT = Number(getResourceLimit(7).hard);
test.skipIf(HARD_LIMIT <= FD_LIMIT)(
  "Bun raises a low soft RLIMIT_NOFILE to the hard limit at startup, so liveframe need not (skipped when the hard limit is itself this low)",
  async () => {
    const code = `const f = await import(${JSON.stringify(FFI)}); console.log(f.fileLimit());`;
    const proc = Bun.spawn(["sh", "-c", `ulimit -Sn ${FD_LIMIT} && exec "$0" -e "$1"`, process.execPath, code], { stdout: "pipe", stderr: "pipe" });
    const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(exit).toBe(0);
    expect(Number(stdout.trim())).toBe(HARD_LIMIT);
  },
);
