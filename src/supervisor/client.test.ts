// sendControl when nobody (or something else) answers: errors say what to do.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlError, sendControl } from "./client.ts";

const dir = mkdtempSync(join(tmpdir(), "liveframe-client-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("no control socket: ENOENT, and how to start a server", async () => {
  const err = await sendControl(join(dir, "nothing"), { cmd: "status" }).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/no liveframe supervisor answers at .*control\.sock \(ENOENT\): start one with `liveframe start`/);
});

test("something that is not a supervisor answers: the reply is rejected, naming the socket", async () => {
  const path = join(dir, "control.sock");
  const impostor = Bun.listen({ unix: path, socket: { data(s) { s.end('{"ok":true,"cmd":"status","result":{"supervisorPid":"nope"}}\n'); } } });
  try {
    const err = await sendControl(dir, { cmd: "status" }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/malformed message from supervisor at .*control\.sock/);
    const err2 = await sendControl(dir, { cmd: "reload", timeoutMs: 1000 }).catch((e: Error) => e);
    expect((err2 as Error).message).toMatch(/malformed message/);
  } finally {
    impostor.stop(true);
  }
});

test("a supervisor that closes without answering: it may have exited or refused this uid, check status and its log", async () => {
  const path = join(dir, "control.sock");
  const silent = Bun.listen({ unix: path, socket: { open(s) { s.end(); }, data() {} } });
  try {
    const err = await sendControl(dir, { cmd: "stop" }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/the supervisor at .*control\.sock closed the connection without answering stop: it may have exited or refused this uid \(\d+\): check `liveframe status` and the supervisor's log/);
  } finally {
    silent.stop(true);
  }
});

test("the client follows no symlink and talks to nothing but a socket: each refusal has a kind the CLI maps to its exit code", async () => {
  const real = join(dir, "real");
  mkdirSync(real);
  const link = join(dir, "link");
  symlinkSync(real, link);
  const viaLink = await sendControl(link, { cmd: "status" }).catch((e: Error) => e);
  expect(viaLink).toBeInstanceOf(ControlError);
  expect((viaLink as ControlError).kind).toBe("unsafe");
  expect((viaLink as Error).message).toContain(`runtime dir ${link} is a symbolic link (to ${real}): a liveframe server never runs in one`);

  writeFileSync(join(real, "control.sock"), "");
  const file = await sendControl(real, { cmd: "stop" }).catch((e: Error) => e);
  expect((file as ControlError).kind).toBe("unsafe");
  expect((file as Error).message).toContain(`control socket path ${join(real, "control.sock")} is not a socket (a file)`);

  const notDir = join(dir, "afile");
  writeFileSync(notDir, "");
  const nd = await sendControl(notDir, { cmd: "status" }).catch((e: Error) => e);
  expect((nd as ControlError).kind).toBe("not-running");
  const none = await sendControl(join(dir, "none"), { cmd: "status" }).catch((e: Error) => e);
  expect((none as ControlError).kind).toBe("not-running");
  expect((none as ControlError).detail).toBe(`no runtime dir ${join(dir, "none")}`);
});
