// sendControl when nobody (or something else) answers: errors say what to do.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendControl } from "./client.ts";

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
