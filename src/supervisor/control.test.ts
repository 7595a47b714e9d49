// The control server keeps its runtime dir: a removed socket or dir is put back (logged), a path
// taken by another listener is left to it (logged once) and never unlinked by our stop, and a
// state file seen once is reported missing when it goes away.
import { afterEach, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUnixListener, unixSocketListening } from "../../ffi/index.ts";
import { ControlServer } from "./control.ts";
import { prepareRuntimeDir } from "./runtime-dir.ts";

const undo: (() => void)[] = [];
afterEach(() => {
  for (const fn of undo.splice(0).reverse()) {
    try {
      fn();
    } catch {
      // already gone
    }
  }
});

async function server(): Promise<{ rt: string; control: ControlServer; logs: string[] }> {
  const base = mkdtempSync(join(tmpdir(), "lf-control-unit-"));
  undo.push(() => rmSync(base, { recursive: true, force: true }));
  const rt = join(base, "rt");
  const path = await prepareRuntimeDir(rt);
  const logs: string[] = [];
  const control = new ControlServer(path, async () => ({ pong: true }), (line) => logs.push(line));
  undo.push(() => control.stop());
  return { rt, control, logs };
}

test("a removed control socket is made again; a removed dir is recreated 0700; both answer", async () => {
  const { rt, control, logs } = await server();
  const sock = join(rt, "control.sock");
  expect(control.ensure()).toBe(true);
  expect(logs).toEqual([]);
  unlinkSync(sock);
  expect(control.ensure()).toBe(true);
  expect(logs.pop()).toBe(`runtime dir ${rt} lost its control socket while serving: made its control socket again`);
  expect(unixSocketListening(sock)).toBe(true);
  rmSync(rt, { recursive: true });
  expect(control.ensure()).toBe(true);
  expect(logs.pop()).toBe(`runtime dir ${rt} was removed while serving: recreated it (mode 0700) with its control socket`);
  expect(lstatSync(rt).mode & 0o7777).toBe(0o700);
  expect(lstatSync(sock).mode & 0o777).toBe(0o600);
  expect(unixSocketListening(sock)).toBe(true);
});

test("a path another listener took is left to it, logged once, and our stop does not unlink it", async () => {
  const { rt, control, logs } = await server();
  const sock = join(rt, "control.sock");
  unlinkSync(sock);
  const theirs = Bun.listen({ fd: createUnixListener(sock, 4), socket: { data() {} } } as never) as { stop(c?: boolean): void };
  undo.push(() => theirs.stop(true));
  const ino = lstatSync(sock).ino;
  expect(control.ensure()).toBe(false);
  expect(control.ensure()).toBe(false);
  expect(logs.length).toBe(1);
  expect(logs[0]).toContain(`runtime dir ${rt} has another file at its control socket path while serving and cannot be restored: another process listens on ${sock} now`);
  expect(logs[0]).toMatch(/kill -HUP \d+ reloads, kill -TERM \d+ stops/);
  control.stop();
  expect(lstatSync(sock).ino).toBe(ino);
  expect(unixSocketListening(sock)).toBe(true);
});

test("a state file seen in <runtime-dir>/state is reported missing once it is gone, and not once it is back", async () => {
  const { rt, control } = await server();
  const file = join(rt, "state", "counter.bin");
  mkdirSync(join(rt, "state"));
  writeFileSync(file, "x");
  expect(control.ensure()).toBe(true);
  expect(control.missingStateFiles()).toEqual([]);
  rmSync(rt, { recursive: true });
  control.ensure();
  expect(control.missingStateFiles()).toEqual([file]);
  mkdirSync(join(rt, "state"));
  writeFileSync(file, "x");
  expect(control.missingStateFiles()).toEqual([]);
});

test("a dir recreated 0755 by someone else's mkdir -p (ours) is tightened to 0700 and gets its socket back", async () => {
  const { rt, control, logs } = await server();
  rmSync(rt, { recursive: true });
  mkdirSync(join(rt, "state"), { recursive: true, mode: 0o755 });
  expect(control.ensure()).toBe(true);
  expect(logs).toEqual([
    `runtime dir ${rt} was mode 0755: made it 0700 (only its owner may enter it)`,
    `runtime dir ${rt} was replaced while serving: made its control socket again`,
  ]);
  expect(lstatSync(rt).mode & 0o7777).toBe(0o700);
  expect(unixSocketListening(join(rt, "control.sock"))).toBe(true);
});
