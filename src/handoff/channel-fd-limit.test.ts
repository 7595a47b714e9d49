// A channel at the file descriptor limit: a frame whose fds cannot be received is delivered as
// "undelivered" with the cause (EMFILE), the channel stays open and in step; with a reserve the
// fds arrive. Each case runs in a child process under `ulimit -n 64`.
import { expect, test } from "bun:test";

const CHANNEL = new URL("./channel.ts", import.meta.url).pathname;
const FFI = new URL("../../ffi/index.ts", import.meta.url).pathname;
const FD_LIMIT = 64;

/**
 * In a child at FD_LIMIT: a channel pair, every free slot then taken, one frame with 2 fds and
 * one without sent left → right. Prints what the right side saw, as JSON.
 */
async function sendAtLimit(withReserve: boolean): Promise<{ events: string[]; open: boolean }> {
  const code = `
    const { Channel, channelPair } = await import(${JSON.stringify(CHANNEL)});
    const f = await import(${JSON.stringify(FFI)});
    const { openSync } = await import("node:fs");
    const { z } = await import("zod");
    const schema = z.object({ type: z.string() });
    const [a, b] = channelPair();
    const events = [];
    const reserve = ${withReserve} ? new f.FdReserve(4) : undefined;
    const left = await Channel.open(a, schema, "left", { message() {}, close() {} });
    const right = await Channel.open(b, schema, "left peer", {
      message: (m, fds) => { events.push(m.type + ":" + fds.length); for (const fd of fds) f.close(fd); },
      undelivered: (m, e) => events.push(m.type + ":undelivered:" + e.message),
      close: (e) => events.push("closed:" + (e ? e.message : "")),
    }, { reserve });
    const passed = [openSync("/dev/null", "r"), openSync("/dev/null", "r")];
    left.send({ type: "give" }, passed);
    for (const fd of passed) f.close(fd);
    left.send({ type: "after" });
    // Every free slot is taken now: only the reserve's spares can be lent to the receive.
    const held = []; for (;;) { try { held.push(openSync("/dev/null", "r")); } catch { break; } }
    for (let i = 0; i < 500 && events.length < 2; i++) await Bun.sleep(10);
    for (const fd of held) f.close(fd);
    console.log(JSON.stringify({ events, open: right.isOpen }));
    left.close(); right.close();`;
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${FD_LIMIT} && exec "$0" -e "$1"`, process.execPath, code], {
    cwd: new URL("../..", import.meta.url).pathname,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exit !== 0) throw new Error(`child exited ${exit}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

test("a frame whose fds cannot be received (no free slot) is undelivered with EMFILE; the channel stays open and in step", async () => {
  const { events, open } = await sendAtLimit(false);
  expect(events.length).toBe(2);
  expect(events[0]).toStartWith("give:undelivered:receiving the 2 fds of a frame from left peer failed: recvmsg: EMFILE");
  expect(events[0]).toContain(`${FD_LIMIT} fds`);
  expect(events[1]).toBe("after:0");
  expect(open).toBe(true);
});

test("with a reserve, the same frame's fds arrive at the limit", async () => {
  const { events, open } = await sendAtLimit(true);
  expect(events).toEqual(["give:2", "after:0"]);
  expect(open).toBe(true);
});
