// The runtime dir holds the control socket (and the state files). It is 0700 and ours, so
// only our uid (and root) can even reach the socket; SO_PEERCRED checks every peer anyway.
import { chmodSync, existsSync, mkdirSync, type Stats, statSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
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
  const st = makeRuntimeDir(runtimeDir);
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

const PICK_ANOTHER = "pick another with --runtime-dir";

/** mkdir -p with mode 0700; a failure says what is in the way and what to do, not just EEXIST. */
function makeRuntimeDir(runtimeDir: string): Stats {
  try {
    mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    const st = statSync(runtimeDir);
    if (!st.isDirectory()) throw Object.assign(new Error("not a directory"), { code: "EEXIST" });
    return st;
  } catch (e) {
    throw new Error(runtimeDirProblem(runtimeDir, e as NodeJS.ErrnoException));
  }
}

function runtimeDirProblem(dir: string, e: NodeJS.ErrnoException): string {
  const cannot = `cannot create the runtime dir ${dir}`;
  switch (e.code) {
    case "EEXIST":
      return `runtime dir ${dir} is a file, not a directory: ${PICK_ANOTHER}, or move the file away`;
    case "ENOTDIR": {
      const blocker = firstNonDirectory(dir);
      return `${cannot}: ${blocker ?? "a parent"} is a file, not a directory: ${PICK_ANOTHER}`;
    }
    case "EACCES":
    case "EPERM": {
      const parent = nearestExisting(dir);
      return (
        `${cannot}: permission denied (${e.code}) in ${parent} for uid ${getuid()}: ${PICK_ANOTHER} ` +
        `(one this user may write, e.g. under $HOME or $XDG_RUNTIME_DIR), or have it created for this user (mkdir -m 700 ${dir}; chown ${getuid()} ${dir})`
      );
    }
    case "EROFS":
      return `${cannot}: ${nearestExisting(dir)} is on a read-only file system: ${PICK_ANOTHER} (e.g. under /run or /tmp)`;
    case "ENOSPC":
    case "EDQUOT":
      return `${cannot}: no space left (${e.code}): free some space or ${PICK_ANOTHER}`;
    case "ENAMETOOLONG":
    case "ELOOP":
      return `${cannot}: ${e.code === "ELOOP" ? "too many symbolic links" : "the path is too long"} (${e.code}): ${PICK_ANOTHER}`;
    default:
      return `${cannot}: ${e.message}: ${PICK_ANOTHER}`;
  }
}

/** The first path component of `dir` that exists and is not a directory. */
function firstNonDirectory(dir: string): string | undefined {
  const chain: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The nearest ancestor of `dir` (or dir itself) that exists: where mkdir was refused. */
function nearestExisting(dir: string): string {
  let p = dir;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}
