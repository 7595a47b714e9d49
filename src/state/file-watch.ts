// A region's file on its bad days. The mapping is the live state; the path is how the next
// generation finds it. Someone may truncate the file (SIGBUS on the next touch of a lost
// page), delete it (rm -rf .liveframe: writes go on into an inode nobody can open again) or
// put another file at its path (the next generation would boot on that). A FileWatch notices
// each of these within a second (and at every sync) and:
//   - truncated: the SIGBUS guard (ffi/sigbus.c) gives the file its size back and copies the
//     lost bytes from a shadow copy taken at the last check; a clear warning says so;
//   - deleted: writes the live bytes to a new file, links it at the path and moves this
//     process's mapping onto it (mmap MAP_FIXED: every view stays valid);
//   - replaced: keeps serving from its own file, says loudly that the new file will not be
//     used, and a new generation refuses to boot on it (see `siblingMappings`).
import * as fs from "node:fs";
import * as path from "node:path";
import { MappingGuard, guardAvailable, remapShared } from "../../ffi/index.ts";
import { checkHeader, HEADER_BYTES, W_LOCK, W_LOCK_START, W_LOCK_THREAD, W_RESTORED_FROM, W_WAITERS } from "./header.ts";

/**
 * How often a process checks its state files: the longest a deleted file stays deleted, and
 * the age of the shadow copy a truncation is repaired from. A check is two stat calls and a
 * copy of the region (a few KiB for most apps).
 */
export const CHECK_INTERVAL_MS = 1_000;
/**
 * How long a new generation waits for the serving one to restore a deleted state file before
 * it refuses to boot: a few check intervals, so a loaded machine still makes it.
 */
export const RESTORE_WAIT_MS = 5_000;

/** What a FileWatch needs of its region. */
export interface WatchedRegion {
  readonly file: string;
  fd: number;
  inode: number;
  dev: number;
  readonly mapping: { readonly address: number; readonly length: number; readonly buffer: ArrayBuffer };
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  /** Bytes in use (the header's size word). */
  readonly size: number;
  readonly lock: { acquire(): void; release(): void };
  readStable<T>(read: () => T): T;
  /** The mapping moved to another file: lock it in memory again if it was. */
  remapped(): void;
}

const watches = new Set<FileWatch>();
let timer: ReturnType<typeof setInterval> | undefined;
let guardWarned = false;

export class FileWatch {
  private readonly guard: MappingGuard | null;
  private repairsSeen = 0;
  private shadowAt = 0;
  private bytes = 0;
  /** The foreign inode already warned about (warn once per replacement, not every second). */
  private warnedInode = -1;
  private warnedShort = false;

  constructor(private readonly r: WatchedRegion) {
    this.bytes = r.size;
    this.guard = MappingGuard.add(r.mapping.address, r.mapping.length, r.fd, this.bytes);
    if (this.guard) this.guard.setMessage(this.deathMessage());
    else if (!guardWarned) {
      guardWarned = true;
      const g = guardAvailable();
      console.warn(
        `liveframe: no SIGBUS guard for state files (${g.ok ? "all guard slots are taken" : g.why}): a state file truncated while in use ends this process`,
      );
    }
    this.refreshShadow();
    watches.add(this);
    timer ??= setInterval(checkAll, CHECK_INTERVAL_MS);
    timer.unref();
  }

  /** The region grew to `bytes` (this process appended fields). */
  grown(bytes: number): void {
    this.bytes = Math.max(this.bytes, bytes);
    this.guard?.setFile(this.r.fd, this.bytes);
    this.refreshShadow();
  }

  /** Checks the file now: its size, then whether the path still names it. */
  check(): void {
    const r = this.r;
    if (!this.repairTruncation()) return; // reading the header now would be a SIGBUS
    // Another process may have grown the region: the file must keep that size too.
    const size = r.size;
    if (size > this.bytes) this.grown(size);
    let st: fs.Stats;
    try {
      st = fs.statSync(r.file);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      this.relink();
      return;
    }
    if (st.ino === r.inode && st.dev === r.dev) {
      this.warnedInode = -1;
      this.refreshShadow();
      return;
    }
    if (this.follow(st)) return;
    this.refreshShadow();
    if (this.warnedInode === st.ino) return;
    this.warnedInode = st.ino;
    console.error(
      `liveframe: the state file ${r.file} was replaced while in use (the path now names inode ${st.ino}; this process ` +
        `(pid ${process.pid}) serves from inode ${r.inode}). liveframe keeps serving from its own file and will not use ` +
        `the new one; a new generation refuses to start on it. To keep the live state, move the new file away: it is ` +
        `put back within ${CHECK_INTERVAL_MS / 1000} s. To use the new file, stop the server first, then start it.`,
    );
  }

  /** Repairs a truncation (with the guard); false when the file is still short. */
  private repairTruncation(): boolean {
    const r = this.r;
    if (this.guard) {
      const outcome = this.guard.check();
      const { count, cutAt } = this.guard.repairs();
      if (count > this.repairsSeen) {
        this.repairsSeen = count;
        const age = this.shadowAt ? `${((performance.now() - this.shadowAt) / 1000).toFixed(1)} s old` : "empty";
        console.error(
          `liveframe: the state file ${r.file} was truncated to ${cutAt} bytes while in use (by \`truncate\`, \`> file\` or a copy ` +
            `over it): restored its ${this.bytes} bytes, the lost part from this process's copy (${age}); changes to bytes past ` +
            `${cutAt} made since that copy are lost. Never write to a state file while the server runs; stop it first`,
        );
      }
      if (outcome !== "failed") return true;
      console.error(`liveframe: the state file ${r.file} was truncated and could not be given its size back (disk full?): free space now`);
      return false;
    }
    const st = fs.fstatSync(r.fd);
    if (st.size >= this.bytes) return (this.warnedShort = false), true;
    if (this.warnedShort) return false;
    this.warnedShort = true;
    console.error(`liveframe: the state file ${r.file} was truncated to ${st.size} bytes while in use, and this process has no SIGBUS guard: it will crash when it touches a lost page`);
    return false;
  }

  /** The live bytes, lock words cleared: what a repair or a re-linked file starts from. */
  private copyLive(into: Uint8Array, bytes: number): void {
    const r = this.r;
    r.readStable(() => into.set(r.u8.subarray(0, bytes)));
    // Whoever held the lock while we copied does not hold it in the copy.
    const words = new Int32Array(into.buffer, into.byteOffset, HEADER_BYTES / 4);
    for (const w of [W_LOCK, W_LOCK_START, W_LOCK_THREAD, W_WAITERS]) words[w] = 0;
  }

  private refreshShadow(): void {
    const bytes = this.bytes;
    if (!this.guard || bytes === 0) return;
    try {
      this.guard.refreshShadow(bytes, (into) => this.copyLive(into, bytes));
      this.shadowAt = performance.now();
    } catch (e) {
      console.error(`liveframe: could not copy the state ${this.r.file} for repairs: ${(e as Error).message}`);
    }
  }

  /**
   * The path names nothing: write the live bytes to a new file there and move this process's
   * mapping onto it, under the region lock (no update() is half-way while we copy).
   */
  private relink(): void {
    const r = this.r;
    const bytes = this.bytes;
    const dir = path.dirname(r.file);
    if (!fs.existsSync(dir) && !process.env.LIVEFRAME_SUPERVISOR_PID) {
      // A script's or a test's directory removed while it still had state open: recreating
      // it would bring back what its owner just cleaned up. Say so once.
      if (this.warnedInode === 0) return;
      this.warnedInode = 0;
      console.error(`liveframe: the state file ${r.file} and its directory were deleted while in use: not restored outside a liveframe server; this process's changes from now on are not saved`);
      return;
    }
    // Under a server the runtime dir is recreated (0700) with its control socket; the state
    // directory inside it is ours to recreate.
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${r.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const fd = fs.openSync(tmp, "wx+", 0o600);
    let linked = false;
    try {
      r.lock.acquire();
      try {
        const copy = new Uint8Array(bytes);
        this.copyLive(copy, bytes);
        // Still held by us in the new file: release() below clears it there.
        new Int32Array(copy.buffer, 0, HEADER_BYTES / 4)[W_LOCK] = process.pid;
        new Uint32Array(copy.buffer, 0, HEADER_BYTES / 4)[W_RESTORED_FROM] = r.inode >>> 0;
        fs.writeSync(fd, copy, 0, bytes, 0);
        fs.fsyncSync(fd);
        try {
          fs.linkSync(tmp, r.file); // never replaces a file that appeared meanwhile
          linked = true;
        } catch (e) {
          if ((e as { code?: string }).code === "EEXIST") return; // the next check looks at it
          throw e;
        }
        const old = r.fd;
        remapShared(r.mapping as never, fd);
        const st = fs.fstatSync(fd);
        r.fd = fd;
        r.inode = st.ino;
        r.dev = st.dev;
        this.guard?.setFile(fd, bytes);
        fs.closeSync(old);
        r.remapped();
      } finally {
        r.lock.release();
      }
      console.error(
        `liveframe: the state file ${r.file} was deleted while in use: restored it (${bytes} bytes) from the live state of pid ${process.pid}`,
      );
      this.refreshShadow();
    } catch (e) {
      console.error(`liveframe: the state file ${r.file} was deleted while in use and could not be restored: ${(e as Error).message}`);
    } finally {
      fs.rmSync(tmp, { force: true });
      if (!linked) fs.closeSync(fd);
    }
  }

  /**
   * The path names a file that another process of this server restored from ours (it was
   * deleted, and that process noticed first): move onto it. Returns false for a foreign file.
   */
  private follow(st: fs.Stats): boolean {
    const r = this.r;
    let fd: number;
    try {
      fd = fs.openSync(r.file, "r+");
    } catch {
      return false;
    }
    try {
      const head = new Uint8Array(HEADER_BYTES);
      fs.readSync(fd, head, 0, HEADER_BYTES, 0);
      const now = fs.fstatSync(fd);
      checkHeader(r.file, head, now.size);
      const from = new Uint32Array(head.buffer)[W_RESTORED_FROM];
      if (now.ino !== st.ino || from !== r.inode >>> 0 || now.size < this.bytes) {
        fs.closeSync(fd);
        return false;
      }
      const old = r.fd;
      remapShared(r.mapping as never, fd);
      r.fd = fd;
      r.inode = now.ino;
      r.dev = now.dev;
      this.guard?.setFile(fd, this.bytes);
      fs.closeSync(old);
      r.remapped();
      this.refreshShadow();
      console.error(`liveframe: the state file ${r.file} was deleted while in use and restored by another process: pid ${process.pid} uses the restored file now`);
      return true;
    } catch {
      fs.closeSync(fd);
      return false;
    }
  }

  private deathMessage(): string {
    return (
      `liveframe: the state file ${this.r.file} was truncated while pid ${process.pid} had it mapped, and could not be ` +
      `given its size back (disk full?): this process ends (SIGBUS). Never write to a state file while the server runs`
    );
  }
}

function checkAll(): void {
  for (const w of watches) {
    try {
      w.check();
    } catch (e) {
      console.error(`liveframe: checking a state file failed: ${(e as Error).message}`);
    }
  }
}

/** A shared mapping of a state file's path in another generation of this server. */
export interface SiblingMapping {
  readonly pid: number;
  readonly inode: number;
  /** The mapped file was unlinked (deleted, or replaced by a rename). */
  readonly deleted: boolean;
}

/**
 * The other generations of this server (siblings: same parent, the supervisor) that map a
 * file at this path, or one that was there and is deleted now. Only under a supervisor;
 * reads /proc (a few ms at boot).
 */
export function siblingMappings(file: string): SiblingMapping[] {
  const found: SiblingMapping[] = [];
  if (!process.env.LIVEFRAME_SUPERVISOR_PID) return found;
  // /proc/PID/maps names files by their real path.
  const names = new Set([file]);
  try {
    names.add(path.join(fs.realpathSync(path.dirname(file)), path.basename(file)));
  } catch {
    // the directory is gone too (rm -rf of the runtime dir)
  }
  for (const pid of childrenOf(process.ppid)) {
    if (pid === process.pid) continue;
    let maps: string;
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, "latin1");
    } catch {
      continue;
    }
    for (const line of maps.split("\n")) {
      const at = line.indexOf(" /");
      if (at < 0) continue;
      const name = line.slice(at + 1).trimStart();
      const deleted = name.endsWith(" (deleted)") && names.has(name.slice(0, -" (deleted)".length));
      if (!names.has(name) && !deleted) continue;
      const parts = line.trim().split(/\s+/);
      if (parts[1]?.[3] !== "s") continue;
      found.push({ pid, inode: Number(parts[4]), deleted });
      break;
    }
  }
  return found;
}

/**
 * The children of `parent`: from /proc/PID/task/TID/children (one small file per thread of
 * the supervisor), or where the kernel lacks it (CONFIG_PROC_CHILDREN), by scanning /proc.
 */
function childrenOf(parent: number): number[] {
  try {
    const out: number[] = [];
    for (const tid of fs.readdirSync(`/proc/${parent}/task`)) {
      const text = fs.readFileSync(`/proc/${parent}/task/${tid}/children`, "latin1").trim();
      if (text) for (const p of text.split(" ")) out.push(Number(p));
    }
    return out;
  } catch {
    // no children files: look at every process's parent
  }
  const out: number[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "latin1");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
