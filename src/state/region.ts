// A StateRegion is one state file mapped MAP_SHARED (and mlocked) in this process: created
// atomically when missing, refused when foreign, grown (never shrunk, never moved) when a
// schema adds fields.
import * as fs from "node:fs";
import * as path from "node:path";
import {
  allocateFile,
  getResourceLimit,
  SysError,
  lockMemory,
  mapShared,
  RLIM_INFINITY,
  RLIMIT_MEMLOCK,
  syncMemory,
  type Mapping,
} from "../../ffi/index.ts";
import {
  checkHeader,
  D_DIRECTORY,
  encodeDirectory,
  FORMAT_VERSION,
  HEADER_BYTES,
  MAGIC,
  parseDirectory,
  RegionRefusedError,
  UPGRADABLE_VERSION,
  W_DIR_LENGTH,
  W_DIR_OFFSET,
  W_HEADER_BYTES,
  W_LAYOUT_VERSION,
  W_SEQ,
  W_SIZE,
  W_BOOT,
  W_LOCK,
  W_LOCK_START,
  W_VERSION,
  W_WAITERS,
} from "./header.ts";
import { Journal, recover, type Words } from "./journal.ts";
import { align8, allocate, describe, type Entry, type Leaf } from "./layout.ts";
import { RegionLock } from "./lock.ts";
import { CHECK_INTERVAL_MS, FileWatch, RESTORE_WAIT_MS, siblingMappings, type SiblingMapping } from "./file-watch.ts";

/**
 * Address space reserved per region. The whole reservation is mapped once, so the file can
 * grow underneath every process that has it mapped without anything moving; pages past
 * the end of the file are never touched.
 */
export const MAX_REGION_BYTES = 256 * 1024 * 1024;
/** Reader retries before it waits for the writer through the lock (and recovers a dead one). */
const READ_SPINS = 200;

export type LockMode = "try" | "require";

/** Buffer methods Bun has (like Node) but its type declarations do not list. */
export interface Utf8Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length: number): number;
}

let memlockWarned = false;

export class StateRegion implements Words {
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly i64: BigInt64Array;
  readonly u64: BigUint64Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;
  /** The same bytes as a Buffer: its utf8Slice/utf8Write beat TextDecoder/TextEncoder on short strings. */
  readonly bytes: Utf8Buffer;
  readonly lock: RegionLock;
  readonly journal: Journal;
  /** True when mlock succeeded for the whole region as this process last saw it. */
  locked = false;
  private lockedBytes = 0;
  private lockMode: LockMode | null = null;
  /** Inode and device of the file this process maps (a live lock holder maps it too). */
  inode = 0;
  dev = 0;
  /** Notices a truncated, deleted or replaced file (see file-watch.ts). */
  private watch: FileWatch | null = null;

  private constructor(
    readonly file: string,
    /** The file mapped; it changes when a deleted file is restored (file-watch.ts). */
    public fd: number,
    readonly mapping: Mapping,
  ) {
    const b = mapping.buffer;
    this.i32 = new Int32Array(b);
    this.u32 = new Uint32Array(b);
    this.i64 = new BigInt64Array(b);
    this.u64 = new BigUint64Array(b);
    this.f64 = new Float64Array(b);
    this.u8 = new Uint8Array(b);
    this.bytes = Buffer.from(b) as unknown as Utf8Buffer;
    this.journal = new Journal(this);
    this.lock = new RegionLock(this.i32, mapping, file, () => recover(this, this.directory()), () => this.inode);
  }

  /**
   * Opens (creating it atomically if missing) and maps the region file. Under a supervisor,
   * first makes sure no other generation serves from another file at this path (it was
   * deleted or replaced while serving): the new generation would start from other values.
   */
  static open(file: string): StateRegion {
    const until = performance.now() + RESTORE_WAIT_MS;
    const serving = awaitServingFile(file, until);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) createEmpty(file);
    const fd = fs.openSync(file, "r+");
    try {
      let st = fs.fstatSync(fd);
      const head = new Uint8Array(64);
      for (;;) {
        fs.readSync(fd, head, 0, 64, 0);
        try {
          checkHeader(file, head, st.size);
          break;
        } catch (e) {
          // Truncated while another generation serves from it: that one restores it (file-watch.ts).
          if (performance.now() > until || !serving.some((m) => m.inode === st.ino)) throw e;
          Bun.sleepSync(50);
          st = fs.fstatSync(fd);
        }
      }
      const bytes = st.size;
      if (bytes > MAX_REGION_BYTES)
        throw new RegionRefusedError(file, `it is ${bytes} bytes, more than the ${MAX_REGION_BYTES} a region may hold`);
      // A file grown by ftruncate (an older liveframe, or by hand) has holes: give them blocks
      // now, while a full disk can still be a clear error.
      reserveBlocks(file, fd, bytes, "to open it");
      const region = new StateRegion(file, fd, mapShared(fd, MAX_REGION_BYTES));
      region.inode = st.ino;
      region.dev = st.dev;
      region.forgetEarlierBoot();
      region.watch = new FileWatch(region);
      return region;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /**
   * A lock word written before a reboot names a pid that may belong to an unrelated process
   * now, which would look alive forever. The first process of a new boot to open the region
   * clears such a lock (the next holder then repairs a half-done write: the seqlock is odd).
   */
  private forgetEarlierBoot(): void {
    const boot = bootHash();
    const seen = Atomics.load(this.u32, W_BOOT);
    if (seen === boot) return;
    const staleOwner = Atomics.load(this.i32, W_LOCK);
    if (Atomics.compareExchange(this.u32, W_BOOT, seen, boot) !== seen) return;
    if (seen !== 0 && staleOwner !== 0 && Atomics.compareExchange(this.i32, W_LOCK, staleOwner, 0) === staleOwner)
      Atomics.store(this.i32, W_LOCK_START, 0);
    Atomics.store(this.i32, W_WAITERS, 0);
  }

  /** Bytes of the file in use by the region (header, fields, journals, directory). */
  get size(): number {
    return Atomics.load(this.u32, W_SIZE);
  }

  /** The layout directory as currently published. */
  directory(): Entry[] {
    const size = this.size;
    const off = Atomics.load(this.u32, W_DIR_OFFSET);
    const len = Atomics.load(this.u32, W_DIR_LENGTH);
    if (off + len > size || off < HEADER_BYTES)
      throw new RegionRefusedError(this.file, "its directory lies outside the region (corrupt)");
    return parseDirectory(this.file, new TextDecoder().decode(this.u8.subarray(off, off + len)), size);
  }

  /**
   * Finds (or appends) the entry of every leaf. A leaf already in the directory keeps its
   * offset; a new one is appended at the end; a leaf whose type changed is an Error naming it.
   */
  adopt(leaves: readonly Leaf[]): Map<string, Entry> {
    this.lock.acquire();
    try {
      const existing = this.directory();
      this.upgradeFormat(existing);
      const byPath = new Map(existing.map((e) => [e.path, e]));
      const found = new Map<string, Entry>();
      const missing: Leaf[] = [];
      for (const leaf of leaves) {
        const type = describe(leaf.field);
        const e = byPath.get(leaf.path);
        if (e) {
          if (e.type !== type) throw changedType(this.file, leaf.path, e.type, type);
          found.set(leaf.path, e);
          continue;
        }
        // A leaf where the region has an object (or the other way round) changed type too.
        for (const old of existing) {
          if (old.path.startsWith(`${leaf.path}.`)) throw changedType(this.file, leaf.path, "object", type);
          if (leaf.path.startsWith(`${old.path}.`)) throw changedType(this.file, old.path, old.type, "object");
        }
        missing.push(leaf);
      }
      if (missing.length > 0) for (const e of this.append(existing, missing)) found.set(e.path, e);
      return found;
    } finally {
      this.lock.release();
    }
  }

  /** Moves a version 1 region to version 2 when their layouts agree (no 64-bit integers). */
  private upgradeFormat(existing: readonly Entry[]): void {
    if (Atomics.load(this.u32, W_VERSION) === FORMAT_VERSION) return;
    const wide = existing.find((e) => e.type === "int64" || e.type === "uint64");
    if (wide)
      throw new RegionRefusedError(
        this.file,
        `it has state format version ${UPGRADABLE_VERSION} with a 64-bit integer field ("${wide.path}"), whose journal this liveframe lays out differently`,
      );
    Atomics.store(this.u32, W_VERSION, FORMAT_VERSION);
  }

  private append(existing: readonly Entry[], leaves: readonly Leaf[]): Entry[] {
    const start = align8(this.size);
    const { entries, end } = allocate(leaves, start);
    const dir = encodeDirectory([...existing, ...entries]);
    const newSize = align8(end + dir.length);
    if (newSize > MAX_REGION_BYTES)
      throw new Error(`state file ${this.file}: the schema needs ${newSize} bytes, more than ${MAX_REGION_BYTES}`);
    // Grow only, with real blocks: on a full disk this throws ENOSPC here (the new generation
    // fails to boot, the serving one goes on) instead of a SIGBUS when a page is first written.
    reserveBlocks(this.file, this.fd, newSize, `for the new fields (${leaves.map((l) => l.path).join(", ")})`);
    // A process that died half-way through an earlier append may have left bytes here.
    this.u8.fill(0, start, newSize);
    this.u8.set(dir, end);
    Atomics.store(this.u32, W_SIZE, newSize);
    Atomics.store(this.u64, D_DIRECTORY, BigInt(end) | (BigInt(dir.length) << 32n));
    Atomics.add(this.u32, W_LAYOUT_VERSION, 1);
    this.watch?.grown(newSize); // the file must keep this size, and its repair copy these bytes
    return entries;
  }

  /** mlock the region; on failure warn once (mode "try") or throw (mode "require"). */
  lockInMemory(mode: LockMode): void {
    this.lockMode = mode;
    const size = this.size;
    if (this.locked && this.lockedBytes >= size) return;
    try {
      lockMemory(this.mapping, size);
      this.locked = true;
      this.lockedBytes = size;
    } catch (e) {
      this.locked = false;
      const why = memlockAdvice(this.file, size, e as Error);
      if (mode === "require") throw new Error(`${why}; or pass lock: "try" to run unlocked`);
      if (!memlockWarned) {
        memlockWarned = true;
        console.warn(`liveframe: ${why}; going on unlocked (values stay correct but may be paged out)`);
      }
    }
  }

  /**
   * Runs `read` until it saw no write in progress (seqlock). When a write seems stuck it
   * waits on the lock, which also recovers the region if the writer died.
   */
  readStable<T>(read: () => T): T {
    const u32 = this.u32;
    for (let spins = 0; ; spins++) {
      const s = Atomics.load(u32, W_SEQ);
      if ((s & 1) === 0) {
        const v = read();
        if (Atomics.load(u32, W_SEQ) === s) return v;
      } else if (this.lock.held) {
        return read(); // our own write is under way: what we see is what we wrote
      } else if (spins > READ_SPINS) {
        this.lock.acquire();
        this.lock.release();
        spins = 0;
      }
    }
  }

  /** Runs `write` as one journaled write under the lock. */
  transaction(write: () => void): void {
    this.lock.acquire();
    try {
      this.journal.begin();
      try {
        write();
        this.journal.commit();
      } catch (e) {
        this.journal.abort();
        throw e;
      }
    } finally {
      this.lock.release();
    }
  }

  /** msync(2) the region to its file, after checking the file is still there and whole. */
  sync(): void {
    this.watch?.check();
    syncMemory(this.mapping, this.size);
  }

  /** The mapping now shows another file (a deleted one restored): mlock does not carry over. */
  remapped(): void {
    this.locked = false;
    this.lockedBytes = 0;
    try {
      if (this.lockMode) this.lockInMemory(this.lockMode);
    } catch (e) {
      console.error(`liveframe: ${(e as Error).message}`); // "require": the values are safe, only unlocked
    }
  }
}

/**
 * Under a supervisor: waits (bounded) while another generation serves from a deleted file at
 * `file` (it restores it within a check interval), and refuses when one serves from a file
 * that is not the one at the path (it was replaced while serving). Returns the siblings that
 * serve from the file at the path.
 */
function awaitServingFile(file: string, until: number): SiblingMapping[] {
  for (;;) {
    let inode: number | null = null;
    try {
      inode = fs.statSync(file).ino;
    } catch {
      // missing: fine unless a sibling serves from the deleted file
    }
    const siblings = siblingMappings(file);
    const other = siblings.find((m) => m.deleted || m.inode !== inode);
    if (!other) return siblings;
    if (performance.now() > until)
      throw new Error(
        `state file ${file}: generation pid ${other.pid} serves from another file at this path (inode ${other.inode}${other.deleted ? ", deleted or replaced" : ""}; ` +
          `the path names ${inode === null ? "nothing" : `inode ${inode}`}), so this generation would not see the values being served. ` +
          `A deleted file is restored by the serving generation within ${CHECK_INTERVAL_MS / 1000} s: if it was replaced, move the new file away and reload again, ` +
          `or stop the server to change state files`,
      );
    Bun.sleepSync(50);
  }
}

/** posix_fallocate the first `bytes` of the file; ENOSPC/EDQUOT become a message that says what to do. */
export function reserveBlocks(file: string, fd: number, bytes: number, what: string): void {
  try {
    allocateFile(fd, 0, bytes);
  } catch (e) {
    if (e instanceof SysError && (e.code === "ENOSPC" || e.code === "EDQUOT"))
      throw new Error(
        `state file ${file}: cannot allocate ${bytes} bytes ${what}: the filesystem is full (${e.code}). ` +
          `The state is unchanged: free some space there, or put the state elsewhere with defineState(schema, { file })`,
      );
    throw new Error(`state file ${file}: cannot allocate ${bytes} bytes ${what}: ${(e as Error).message}`);
  }
}

/** FNV-1a of the kernel's boot id; never 0 (0 = "no boot recorded yet"). */
function bootHash(): number {
  let text = "unknown-boot";
  try {
    text = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // no /proc: every boot looks the same, stale locks are then only taken over by pid checks
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h === 0 ? 1 : h;
}

/** "an int32", "an object", "a uint32", "a string(8)": the article as the type name is spoken. */
function article(type: string): string {
  return /^[aeio]/i.test(type) ? "an" : "a";
}

function changedType(file: string, field: string, from: string, to: string): Error {
  return new Error(
    `state field "${field}" changed type from ${from} to ${to}: the state file ${file} holds ${article(from)} ${from} there. ` +
      `Keep the old type, or store the new value under a new field name (a removed field is ignored), ` +
      `or remove the state file to start from zero (every value in it is lost).`,
  );
}

function memlockAdvice(file: string, size: number, e: Error): string {
  let limit = "unknown";
  try {
    const { soft } = getResourceLimit(RLIMIT_MEMLOCK);
    limit = soft === RLIM_INFINITY ? "unlimited" : `${soft / 1024n} KiB`;
  } catch {
    // keep "unknown"
  }
  return (
    `cannot lock the state file ${file} (${Math.ceil(size / 1024)} KiB) in memory (${e.message}; ` +
    `RLIMIT_MEMLOCK is ${limit}): raise the limit with \`ulimit -l unlimited\`, LimitMEMLOCK=infinity ` +
    `in the systemd unit or --ulimit memlock=-1 for docker`
  );
}

/** Creates an empty region (header + empty directory) under a temporary name, then links it in place. */
function createEmpty(file: string): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const dir = encodeDirectory([]);
  const size = align8(HEADER_BYTES + dir.length);
  const buf = new Uint8Array(size);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  const w = new Uint32Array(buf.buffer);
  w[W_VERSION] = FORMAT_VERSION;
  w[W_HEADER_BYTES] = HEADER_BYTES;
  w[W_SIZE] = size;
  w[W_DIR_OFFSET] = HEADER_BYTES;
  w[W_DIR_LENGTH] = dir.length;
  buf.set(dir, HEADER_BYTES);
  try {
    fs.writeFileSync(tmp, buf, { mode: 0o600 });
    fs.linkSync(tmp, file); // atomic, and never replaces a file another process created first
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw e;
  } finally {
    // force: a write that failed (disk full) may have left a partial tmp file, or none.
    fs.rmSync(tmp, { force: true });
  }
}
