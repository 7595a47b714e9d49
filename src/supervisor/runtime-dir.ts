// The runtime dir holds the control socket and (by default) the state files. Whoever can change
// what is in it steers the server: moves the control socket away and answers in its place,
// plants a state file the next generation maps, writes the lock word. liveframe often runs as
// root, and root can write anywhere, so "can we write here" proves nothing. The rules:
//
// - the runtime dir is a real directory (never a symlink: it is opened O_NOFOLLOW|O_DIRECTORY
//   and every check and the chmod go through that fd, so nothing is done to a link's target);
// - it belongs to the uid we run as, root included (root does not trust another user's dir);
// - nobody else may write in it: group/other-writable is refused (someone may already have put
//   files there); merely readable or searchable by others (e.g. 0755) is tightened to 0700;
// - nobody else may replace it: every directory on the way to it (walked as the kernel resolves
//   the path) belongs to us or root and is not writable by group/others unless sticky (/tmp),
//   and no symlink on the way can be repointed by another user. A directory another user owns
//   or can write lets that user rename the runtime dir away and put their own in its place
//   while the server runs.
// Given that chain, paths below the checked directory cannot change under us (only we and root
// can change them), so path-based calls after the checks are as good as *at() calls on the fd.
import { closeSync, constants, existsSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, type Stats, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { getuid, MAX_UNIX_PATH, unixSocketListening } from "../../ffi/index.ts";

/** Only the owner may list, enter or change the runtime dir. */
export const RUNTIME_DIR_MODE = 0o700;
const S_ISVTX = 0o1000;

const PICK_ANOTHER = "pick another with --runtime-dir";

export function controlSocketPath(runtimeDir: string): string {
  return join(runtimeDir, "control.sock");
}

/**
 * Where defineState puts a state by default (src/state/define.ts: `<runtime-dir>/state/<name>.bin`).
 * The supervisor only looks at which files exist there, never inside them.
 */
export function defaultStateDir(runtimeDir: string): string {
  return join(runtimeDir, "state");
}

/** Which file a path names right now: device and inode (0/0 when it is not there). */
export interface FileId {
  dev: number;
  ino: number;
}

export function sameFile(a: FileId | null, b: FileId | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** lstat(2) that answers null for a path that does not exist; other errors throw. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/**
 * Creates (or checks) the runtime dir and makes sure no other supervisor uses it. A control
 * socket left by a supervisor that died is removed; one that answers means another
 * supervisor runs here, which is refused. Throws with what, why and what to do.
 */
export async function prepareRuntimeDir(runtimeDir: string): Promise<string> {
  secureRuntimeDir(runtimeDir, (line) => console.error(`liveframe: ${line}`));
  const path = controlSocketPath(runtimeDir);
  const existing = checkSocketPath(path);
  if (existing) {
    if (unixSocketListening(path)) {
      throw new Error(
        `another liveframe supervisor is already running with runtime dir ${runtimeDir}: stop it with \`liveframe stop --runtime-dir ${runtimeDir}\`, or pick another --runtime-dir`,
      );
    }
    unlinkSync(path); // stale: its supervisor died without cleaning up
  }
  return path;
}

/**
 * Makes `runtimeDir` a directory only we steer (see the rules above), creating it (and missing
 * parents) 0700. Returns its identity. `note` hears about a mode that was tightened.
 */
export function secureRuntimeDir(runtimeDir: string, note: (line: string) => void = () => {}): FileId {
  const dir = resolve(runtimeDir);
  const parent = dirname(dir);
  try {
    // Checked before anything is created in it, and again once the missing parents exist.
    checkPath(dir, nearestExisting(parent));
    mkdirSync(parent, { recursive: true, mode: RUNTIME_DIR_MODE });
    checkPath(dir, parent);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === undefined) throw e;
    // mkdir -p of a parent that is a file: say which file is in the way.
    throw new Error(runtimeDirProblem(dir, err.code === "EEXIST" ? Object.assign(err, { code: "ENOTDIR" }) : err));
  }
  try {
    mkdirSync(dir, { mode: RUNTIME_DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(runtimeDirProblem(dir, e as NodeJS.ErrnoException));
  }
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    throw new Error(notADirectory(dir, e as NodeJS.ErrnoException));
  }
  try {
    const st = fstatSync(fd);
    const uid = getuid();
    if (st.uid !== uid) {
      throw new Error(
        `runtime dir ${dir} is owned by uid ${st.uid}, not you (uid ${uid}): someone else could steer this server (move its control socket away, plant a state file); remove it or ${PICK_ANOTHER}`,
      );
    }
    if (othersMayWrite(st)) {
      throw new Error(
        `runtime dir ${dir} is writable by ${whoMayWrite(st)} (mode ${octal(st.mode)}): someone else may have put files in it (a socket, a state file); check what is in it, then \`chmod 700 ${dir}\`, or remove it, or ${PICK_ANOTHER}`,
      );
    }
    if ((st.mode & 0o7777) !== RUNTIME_DIR_MODE) {
      fchmodSync(fd, RUNTIME_DIR_MODE); // on the fd we checked: never on a symlink's target
      note(`runtime dir ${dir} was mode ${octal(st.mode)}: made it ${octal(RUNTIME_DIR_MODE)} (only its owner may enter it)`);
    }
    return { dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

/**
 * The control socket path as found: null when there is nothing; its lstat when it is a socket
 * of ours. Anything else (a symlink, a file, someone else's socket) is refused: a 0700 dir of
 * ours holds nothing we did not put there, so it was put there by hand or by an attack.
 */
export function checkSocketPath(path: string): Stats | null {
  if (Buffer.byteLength(path) > MAX_UNIX_PATH) {
    throw new Error(`control socket path ${path} is longer than ${MAX_UNIX_PATH} bytes (unix socket limit): pick a shorter --runtime-dir`);
  }
  const st = lstatOrNull(path);
  if (!st) return null;
  if (st.isSymbolicLink()) {
    throw new Error(
      `control socket path ${path} is a symbolic link (to ${linkTarget(path)}), not a socket: liveframe never follows one there; remove it (rm ${path}) and start again`,
    );
  }
  if (!st.isSocket()) {
    throw new Error(`control socket path ${path} is ${kindOf(st)}, not a socket: move it away (it is not liveframe's) and start again`);
  }
  const uid = getuid();
  if (st.uid !== uid) {
    throw new Error(`control socket ${path} is owned by uid ${st.uid}, not you (uid ${uid}): remove it and start again, or ${PICK_ANOTHER}`);
  }
  return st;
}

/** The state files in the default state dir now (absolute paths; none when there is no dir). */
export function stateFilesIn(runtimeDir: string): string[] {
  const dir = defaultStateDir(runtimeDir);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".bin"))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** The kernel's limit on symlinks followed in one path lookup (path_resolution(7)). */
const MAX_SYMLINKS = 40;

/**
 * Walks `path` from / as the kernel resolves it and checks everything on the way: every
 * directory belongs to us or root and is writable by nobody else unless sticky (otherwise its
 * owner, or its group, could swap the runtime dir for one of their own while the server runs),
 * and every symlink followed sits where only we or root could repoint it (a symlink in a sticky
 * world-writable dir like /tmp can be replaced by its owner). Returns the resolved path.
 */
function checkPath(dir: string, path: string): string {
  const uid = getuid();
  const trusted = uid === 0 ? "root" : `you (uid ${uid}) or root`;
  const fix =
    `pick a runtime dir in a directory only ${trusted} can write, e.g. ` +
    (uid === 0 ? "--runtime-dir /run/liveframe-<app>" : "--runtime-dir $XDG_RUNTIME_DIR/liveframe-<app> or one under your home");
  const checkDir = (p: string, st: Stats) => {
    const via = path.startsWith(p) ? "" : ` (reached through a symlink in ${path})`;
    if (st.uid !== uid && st.uid !== 0) {
      throw new Error(
        `runtime dir ${dir} is inside ${p}${via}, which uid ${st.uid} owns: that user could replace the runtime dir while the server runs and steer it; ${fix}`,
      );
    }
    if (othersMayWrite(st) && (st.mode & S_ISVTX) === 0) {
      throw new Error(
        `runtime dir ${dir} is inside ${p}${via}, which ${whoMayWrite(st)} may write (mode ${octal(st.mode)}, not sticky): they could replace the runtime dir while the server runs and steer it; \`chmod go-w ${p}\`, or ${fix}`,
      );
    }
  };
  let real = "/";
  let realSt = lstatSync(real);
  checkDir(real, realSt);
  const todo = path.split("/");
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      real = dirname(real); // already checked on the way down
      realSt = lstatSync(real);
      continue;
    }
    const next = join(real, name);
    const st = lstatSync(next);
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`too many symbolic links in ${path}`), { code: "ELOOP" });
      if (othersMayWrite(realSt) && st.uid !== uid && st.uid !== 0) {
        throw new Error(
          `runtime dir ${dir} is reached through the symlink ${next}, which uid ${st.uid} owns in ${real} (mode ${octal(realSt.mode)}): that user could point it elsewhere while the server runs; pass the real path with --runtime-dir, or ${fix}`,
        );
      }
      const target = readlinkSync(next);
      if (target.startsWith("/")) {
        real = "/";
        realSt = lstatSync(real);
      }
      todo.unshift(...target.split("/"));
      continue;
    }
    if (!st.isDirectory()) throw Object.assign(new Error(`${next} is not a directory`), { code: "ENOTDIR" });
    checkDir(next, st);
    real = next;
    realSt = st;
  }
  return real;
}

/**
 * Someone other than us and root may write: the "other" write bit, or the group write bit of a
 * group someone else is in. Group-writable dirs are what a umask of 002 makes (Debian, Ubuntu,
 * Fedora give each user a private group): with nobody else in the group, nobody else can write.
 */
function othersMayWrite(st: Stats): boolean {
  if ((st.mode & 0o002) !== 0) return true;
  return (st.mode & 0o020) !== 0 && groupOutsiders(st.gid).length > 0;
}

/**
 * The uids other than ours and root's in group `gid`: its members in /etc/group and the users
 * whose primary group it is in /etc/passwd. A group not in /etc/group (another NSS source)
 * counts as having outsiders: it cannot be shown to be private.
 */
export function groupOutsiders(gid: number): number[] {
  const me = getuid();
  let group: string[] | undefined;
  let passwd: string[][];
  try {
    group = readFileSync("/etc/group", "utf8").split("\n").map((l) => l.split(":")).find((f) => f.length >= 4 && Number(f[2]) === gid);
    passwd = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":")).filter((f) => f.length >= 4);
  } catch {
    return [-1];
  }
  if (!group) return [-1];
  const uidOf = new Map(passwd.map((f) => [f[0]!, Number(f[2])]));
  const members = group[3]!.split(",").filter((n) => n !== "").map((n) => uidOf.get(n) ?? -1);
  const primary = passwd.filter((f) => Number(f[3]) === gid).map((f) => Number(f[2]));
  return [...new Set([...members, ...primary])].filter((u) => u !== me && u !== 0);
}

/** "/", "/a", "/a/b" for "/a/b". */
function chain(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) return out;
  }
}

function whoMayWrite(st: Stats): string {
  const o = (st.mode & 0o002) !== 0;
  const outsiders = (st.mode & 0o020) !== 0 ? groupOutsiders(st.gid) : [];
  const known = outsiders.filter((u) => u >= 0);
  const g =
    outsiders.length === 0
      ? ""
      : `its group (gid ${st.gid}${known.length > 0 ? `, which has uid ${known.slice(0, 3).join(", ")}${known.length > 3 ? ", …" : ""}` : ", not shown to be private in /etc/group"})`;
  return g && o ? `${g} and others` : g || "others";
}

function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8);
}

function linkTarget(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "?";
  }
}

function kindOf(st: Stats): string {
  if (st.isFile()) return "a file";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a socket";
}

/** open(O_NOFOLLOW|O_DIRECTORY) failed: a symlink (ELOOP or ENOTDIR), a file, or gone. */
function notADirectory(dir: string, e: NodeJS.ErrnoException): string {
  const st = lstatOrNull(dir);
  if (st?.isSymbolicLink()) {
    return (
      `runtime dir ${dir} is a symbolic link (to ${linkTarget(dir)}): liveframe does not follow it, so whoever can change the link cannot steer the server; ` +
      `pass the real directory with --runtime-dir, or remove the link`
    );
  }
  if (st && !st.isDirectory()) return `runtime dir ${dir} is ${kindOf(st)}, not a directory: ${PICK_ANOTHER}, or move it away`;
  return runtimeDirProblem(dir, e);
}

/** mkdir failed: what is in the way and what to do, not just EEXIST. */
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
  for (const p of chain(dir)) {
    const st = lstatOrNull(p);
    if (!st) return undefined;
    if (!st.isDirectory() && !(st.isSymbolicLink() && isDirectory(p))) return p;
  }
  return undefined;
}

function isDirectory(p: string): boolean {
  try {
    return lstatSync(realpathSync(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The nearest ancestor of `dir` (or dir itself) that exists: where mkdir was refused. */
function nearestExisting(dir: string): string {
  let p = dir;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}
