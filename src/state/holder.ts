// Who holds a region's lock, and whether that holder still exists. A lock word holds only a
// pid, and a pid alone says little: it may have been reused by an unrelated process (the
// holder died, or the file outlived a reboot), or someone may have written it there. A holder
// is alive only when all of these hold:
//   - the pid exists and is not a zombie (kill(pid, 0), /proc/PID/stat state);
//   - its start time (/proc/PID/stat field 22) is the one the holder recorded beside the word,
//     when it recorded one (a reused pid starts later);
//   - it has the region file mapped shared (/proc/PID/maps names the file's inode), when that
//     file is readable to us (another uid's maps need privilege).
import * as fs from "node:fs";

export interface Holder {
  readonly pid: number;
  /** Low 32 bits of the start time in clock ticks since boot (0: unknown). */
  readonly start: number;
}

/** /proc/PID/stat fields after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Start time of `pid` in clock ticks since boot, low 32 bits (0 when unknown: no /proc). */
export function processStart(pid: number): number {
  const fields = statFields(pid);
  // Field 22 of proc(5); the list starts at field 3 (state).
  const ticks = fields?.[22 - 3];
  return ticks === undefined ? 0 : Number(BigInt(ticks) & 0xffff_ffffn) >>> 0;
}

/**
 * True unless `pid` is certainly gone: kill(pid, 0) fails with ESRCH, or it is a zombie
 * (dead, its parent has not reaped it yet; kill still succeeds on those).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
  const fields = statFields(pid);
  return fields === null ? true : fields[0] !== "Z"; // no /proc: trust kill
}

/** Whether `pid` maps inode `ino` shared: true, false, or null when its maps are not readable. */
export function mapsInode(pid: number, ino: number): boolean | null {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, "latin1");
  } catch {
    return null;
  }
  // "addr-addr rw-s offset maj:min inode path": a shared mapping of that inode.
  const needle = ` ${ino} `;
  for (let at = maps.indexOf(needle); at >= 0; at = maps.indexOf(needle, at + 1)) {
    const line = maps.slice(maps.lastIndexOf("\n", at) + 1, at + needle.length);
    const parts = line.trim().split(/\s+/);
    if (parts[1]?.[3] === "s" && parts[4] === String(ino)) return true;
  }
  return false;
}

/** Whether the process named by a lock word is still the one that took the lock. */
export function holderAlive(h: Holder, ino: number): boolean {
  if (!processAlive(h.pid)) return false;
  if (h.start !== 0) {
    const now = processStart(h.pid);
    if (now !== 0 && now !== h.start) return false; // the pid was reused
  }
  return mapsInode(h.pid, ino) !== false;
}

let bootSeconds: number | undefined;
/** sysconf(_SC_CLK_TCK): 100 on every Linux ABI liveframe supports (x86_64, aarch64). */
const TICKS_PER_SECOND = 100;

/** When a process started, as an ISO date (best effort, for error messages). */
export function describeStart(pid: number): string {
  const ticks = statFields(pid)?.[22 - 3];
  if (ticks === undefined) return "start unknown";
  try {
    bootSeconds ??= Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "latin1"))?.[1] ?? NaN);
  } catch {
    bootSeconds = NaN;
  }
  if (!Number.isFinite(bootSeconds)) return "start unknown";
  return `started ${new Date((bootSeconds + Number(ticks) / TICKS_PER_SECOND) * 1000).toISOString()}`;
}

/** The command line of `pid`, shortened, for error messages ("" when unknown). */
export function describeCommand(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter(Boolean).join(" ");
    return cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd;
  } catch {
    return "";
  }
}
