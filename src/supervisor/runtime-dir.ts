// The runtime dir holds the control socket (and the state files). It is 0700 and ours, so
// only our uid (and root) can even reach the socket; SO_PEERCRED checks every peer anyway.
import { chmodSync, existsSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { getuid } from "../../ffi/index.ts";

/** sun_path is 108 bytes with its terminating NUL (unix(7)). */
const MAX_SOCKET_PATH = 107;
/** A live supervisor answers a connect at once; this only bounds a wedged one. */
const PROBE_TIMEOUT_MS = 2000;

export function controlSocketPath(runtimeDir: string): string {
  return join(runtimeDir, "control.sock");
}

/**
 * Creates (or checks) the runtime dir and makes sure no other supervisor uses it. A control
 * socket left by a supervisor that died is removed; one that answers means another
 * supervisor runs here, which is refused.
 */
export async function prepareRuntimeDir(runtimeDir: string): Promise<string> {
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  const st = statSync(runtimeDir);
  if (!st.isDirectory()) throw new Error(`runtime dir ${runtimeDir} is not a directory: pick another with --runtime-dir`);
  const uid = getuid();
  if (st.uid !== uid && uid !== 0) {
    throw new Error(`runtime dir ${runtimeDir} belongs to uid ${st.uid}, not to us (uid ${uid}): pick another with --runtime-dir`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(runtimeDir, 0o700);
  const path = controlSocketPath(runtimeDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new Error(`control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (unix socket limit): pick a shorter --runtime-dir`);
  }
  if (existsSync(path)) {
    if (await answers(path)) {
      throw new Error(
        `another liveframe supervisor is already running with runtime dir ${runtimeDir}: stop it with \`liveframe stop --runtime-dir ${runtimeDir}\`, or pick another --runtime-dir`,
      );
    }
    unlinkSync(path); // stale: its supervisor died without cleaning up
  }
  return path;
}

async function answers(path: string): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const s = await Promise.race([
      Bun.connect({ unix: path, socket: { data() {} } }),
      new Promise<null>((r) => (timer = setTimeout(() => r(null), PROBE_TIMEOUT_MS))),
    ]);
    s?.end();
    return s !== null;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
