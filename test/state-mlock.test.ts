// The mlock failure path: the child runs under `ulimit -l 4` (4 KiB, less than one region).
// Root ignores RLIMIT_MEMLOCK (CAP_IPC_LOCK), so as root the child also runs under `setpriv`
// with CAP_IPC_LOCK removed from its bounding and inheritable sets: mlock then really fails.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Sandbox } from "./state-support.ts";

const setpriv = Bun.which("setpriv");
const root = process.getuid?.() === 0;
const ULIMIT = ["sh", "-c", 'ulimit -l 4 && exec "$0" "$@"'];
// Only root needs the capability dropped (and only root may change its bounding set).
const LIMITED = root ? [setpriv ?? "setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", ...ULIMIT] : ULIMIT;
const cannotDrop = root && !setpriv;

let box: Sandbox;
beforeEach(() => {
  box = new Sandbox();
});
afterEach(() => box.cleanup());

test("with a working mlock the region is locked and nothing is printed", async () => {
  const file = box.file();
  const c = box.spawn("mlock", file, "try");
  expect(await c.line("locked=")).toBe("locked=true,true hits=1");
  expect(await c.exited).toBe(0);
  expect(await c.stderr()).toBe("");
}, 60_000);

test.skipIf(cannotDrop)("RLIMIT_MEMLOCK too small: one warning naming the limit and the fix, then it runs unlocked (skipped only as root without setpriv)", async () => {
  const file = box.file();
  const c = box.spawn("mlock", file, "try", LIMITED);
  expect(await c.line("locked=")).toBe("locked=false,false hits=1");
  expect(await c.exited).toBe(0);
  const err = await c.stderr();
  expect(err.match(/liveframe: cannot lock the state file/g)?.length).toBe(1);
  expect(err).toContain(file);
  expect(err).toContain("RLIMIT_MEMLOCK is 4 KiB");
  expect(err).toContain("ulimit -l unlimited");
  expect(err).toContain("LimitMEMLOCK=infinity");
  expect(err).toContain("going on unlocked");
}, 60_000);

test.skipIf(cannotDrop)('lock: "require" refuses to start when mlock is not allowed (skipped only as root without setpriv)', async () => {
  const file = box.file();
  const c = box.spawn("mlock", file, "require", LIMITED);
  expect(await c.exited).not.toBe(0);
  const err = await c.stderr();
  expect(err).toContain("cannot lock the state file");
  expect(err).toContain("RLIMIT_MEMLOCK is 4 KiB");
  expect(err).toContain('or pass lock: "try" to run unlocked');
}, 60_000);
