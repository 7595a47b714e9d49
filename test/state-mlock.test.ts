// The mlock failure path. We may run as root, and root ignores RLIMIT_MEMLOCK (CAP_IPC_LOCK):
// the child runs under `setpriv` with CAP_IPC_LOCK removed from its bounding and inheritable
// sets, then under `ulimit -l 4` (4 KiB, less than one region), so mlock really fails.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Sandbox } from "./state-support.ts";

const setpriv = Bun.which("setpriv");
const LIMITED = setpriv
  ? [setpriv, "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "sh", "-c", 'ulimit -l 4 && exec "$0" "$@"']
  : [];

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

test.skipIf(!setpriv)("RLIMIT_MEMLOCK too small: one warning naming the limit and the fix, then it runs unlocked (skipped only when setpriv is missing)", async () => {
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

test.skipIf(!setpriv)('lock: "require" refuses to start when mlock is not allowed (skipped only when setpriv is missing)', async () => {
  const file = box.file();
  const c = box.spawn("mlock", file, "require", LIMITED);
  expect(await c.exited).not.toBe(0);
  const err = await c.stderr();
  expect(err).toContain("cannot lock the state file");
  expect(err).toContain("RLIMIT_MEMLOCK is 4 KiB");
  expect(err).toContain('or pass lock: "try" to run unlocked');
}, 60_000);
