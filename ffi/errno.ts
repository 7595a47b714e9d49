// errno(3) values for Linux (asm-generic), and the error type every ffi call throws.
import { read } from "bun:ffi";
import { libc } from "./libc.ts";

const NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
  8: "ENOEXEC", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
  14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR",
  22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 27: "EFBIG", 28: "ENOSPC",
  29: "ESPIPE", 30: "EROFS", 32: "EPIPE", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG",
  38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 88: "ENOTSOCK", 89: "EDESTADDRREQ",
  90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL",
  100: "ENETDOWN", 101: "ENETUNREACH", 103: "ECONNABORTED", 104: "ECONNRESET",
  105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 109: "ETOOMANYREFS", 110: "ETIMEDOUT",
  111: "ECONNREFUSED", 113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS", 122: "EDQUOT",
};

export const EINTR = 4;
export const EAGAIN = 11;
export const EMFILE = 24;

/** Symbolic name of an errno value: `98` → `"EADDRINUSE"`. */
export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}

/** Reads the calling thread's errno. Call it right after the failing libc call. */
export function lastErrno(): number {
  const p = libc.__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

/**
 * A failed system call: `call` is what was attempted, `code` the symbolic errno.
 * The message reads `bind: EADDRINUSE (Address already in use)`.
 */
export class SysError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  constructor(call: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    const text = errno > 0 ? String(libc.strerror(errno)) : "unknown error";
    super(`${call}: ${code} (${text})${detail ? `: ${detail}` : ""}`);
    this.name = "SysError";
    this.call = call;
    this.errno = errno;
    this.code = code;
  }
}

/** Throws a SysError for `call` when a libc result is negative; returns it otherwise. */
export function check(call: string, result: number, detail?: string): number {
  if (result < 0) throw new SysError(call, lastErrno(), detail);
  return result;
}

/** Same as `check` for calls that return ssize_t (bigint through bun:ffi i64). */
export function checkSize(call: string, result: bigint | number, detail?: string): number {
  const n = Number(result);
  if (n < 0) throw new SysError(call, lastErrno(), detail);
  return n;
}
