// Shared memory through libc: mmap(2), munmap(2), mlock(2), munlock(2), msync(2),
// ftruncate(2), posix_fallocate(3), getrlimit(2) and futex(2). Every failure is a SysError naming the call.
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { check, checkSize, lastErrno, SysError, EAGAIN, EINTR } from "./errno.ts";
import { libc } from "./libc.ts";

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_FIXED = 0x10;
export const MS_ASYNC = 1;
export const MS_SYNC = 4;
/** getrlimit(2) resource number of RLIMIT_MEMLOCK on Linux (x86_64 and aarch64). */
export const RLIMIT_MEMLOCK = 8;
/** RLIM_INFINITY as reported through a u64: all bits set. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

const SYS_FUTEX = process.arch === "arm64" ? 98 : 202; // asm/unistd_64.h (x86_64) / asm-generic
// Shared (not FUTEX_PRIVATE_FLAG) operations: the futex word lives in a file mapping that
// other processes map too, so the kernel must key it by inode + offset.
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const ETIMEDOUT = 110;

/** A MAP_SHARED mapping: its address, its length and a zero-copy ArrayBuffer over it. */
export interface Mapping {
  readonly address: number;
  readonly length: number;
  /** A plain ArrayBuffer (not shared): never transfer or postMessage it, that detaches it. */
  readonly buffer: ArrayBuffer;
}

/**
 * mmap(2) `length` bytes of `fd` from offset 0, read-write, MAP_SHARED.
 * `length` may exceed the file's size: pages past the end of the file are reserved address
 * space and raise SIGBUS if touched, so callers only touch what the file covers.
 */
export function mapShared(fd: number, length: number): Mapping {
  const result = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as bigint | number;
  const address = Number(result);
  if (address === -1 || address === 0) throw new SysError("mmap", lastErrno(), `${length} bytes of fd ${fd}`);
  const buffer = toArrayBuffer(address as Pointer, 0, length);
  return { address, length, buffer };
}

/**
 * mmap(2) with MAP_FIXED: maps `fd` over the same addresses as `m`, replacing it at once.
 * The mapping's ArrayBuffer and every view over it stay valid and now show the new file
 * (mlock(2) does not carry over: lock it again).
 */
export function remapShared(m: Mapping, fd: number): void {
  const result = libc.mmap(m.address as Pointer, m.length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) as bigint | number;
  const address = Number(result);
  if (address === -1) throw new SysError("mmap(MAP_FIXED)", lastErrno(), `${m.length} bytes of fd ${fd}`);
  if (address !== m.address) throw new Error(`mmap(MAP_FIXED) placed fd ${fd} at ${address}, not ${m.address}`);
}

/** munmap(2). Views over the mapping must not be touched afterwards. */
export function unmap(m: Mapping): void {
  check("munmap", libc.munmap(m.address as Pointer, m.length));
}

/** mlock(2) the first `length` bytes of a mapping. Throws SysError (ENOMEM/EPERM) when not allowed. */
export function lockMemory(m: Mapping, length: number): void {
  check("mlock", libc.mlock(m.address as Pointer, length), `${length} bytes`);
}

/** munlock(2) */
export function unlockMemory(m: Mapping, length: number): void {
  check("munlock", libc.munlock(m.address as Pointer, length), `${length} bytes`);
}

/** msync(2) the first `length` bytes; `MS_SYNC` waits for the write-back. */
export function syncMemory(m: Mapping, length: number, flags = MS_SYNC): void {
  check("msync", libc.msync(m.address as Pointer, length, flags), `${length} bytes`);
}

/** ftruncate(2) */
export function truncate(fd: number, length: number): void {
  check("ftruncate", libc.ftruncate(fd, length), `fd ${fd} to ${length} bytes`);
}

/**
 * posix_fallocate(3): allocates the blocks of bytes [offset, offset + length) of `fd`, growing
 * the file if it is shorter. Unlike ftruncate, a full filesystem is an ENOSPC here and not a
 * SIGBUS later, when a page of a shared mapping over a hole is first written.
 */
export function allocateFile(fd: number, offset: number, length: number): void {
  const err = libc.posix_fallocate(fd, offset, length);
  if (err !== 0) throw new SysError("posix_fallocate", err, `fd ${fd}, ${length} bytes from ${offset}`);
}

/** getrlimit(2): soft and hard limits as bigint; RLIM_INFINITY means unlimited. */
export function getResourceLimit(resource: number): { soft: bigint; hard: bigint } {
  const out = new BigUint64Array(2);
  check("getrlimit", libc.getrlimit(resource, ptr(out)), `resource ${resource}`);
  return { soft: out[0] ?? 0n, hard: out[1] ?? 0n };
}

/**
 * futex(2) FUTEX_WAIT on the i32 at `byteOffset` of a mapping: sleeps while it still holds
 * `expected`, at most `timeoutMs`. Returns "woken" | "changed" (EAGAIN: the value differed)
 * | "timeout" | "interrupted".
 */
export function futexWait(
  m: Mapping,
  byteOffset: number,
  expected: number,
  timeoutMs: number,
): "woken" | "changed" | "timeout" | "interrupted" {
  const ts = new BigInt64Array(2);
  ts[0] = BigInt(Math.floor(timeoutMs / 1000));
  ts[1] = BigInt(Math.round((timeoutMs % 1000) * 1e6));
  const r = Number(
    libc.syscall(SYS_FUTEX, (m.address + byteOffset) as Pointer, FUTEX_WAIT, expected | 0, ptr(ts), null, 0),
  );
  if (r >= 0) return "woken";
  const errno = lastErrno();
  if (errno === EAGAIN) return "changed";
  if (errno === ETIMEDOUT) return "timeout";
  if (errno === EINTR) return "interrupted";
  throw new SysError("futex(FUTEX_WAIT)", errno);
}

/** futex(2) FUTEX_WAKE: wakes up to `count` waiters on the i32 at `byteOffset`. Returns how many woke. */
export function futexWake(m: Mapping, byteOffset: number, count = 1): number {
  return checkSize(
    "futex(FUTEX_WAKE)",
    libc.syscall(SYS_FUTEX, (m.address + byteOffset) as Pointer, FUTEX_WAKE, count, null, null, 0),
  );
}
