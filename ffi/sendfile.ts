// sendfile(2): bytes of a file to a socket inside the kernel, without a copy through user space.
import { ptr } from "bun:ffi";
import { EAGAIN, EINTR, lastErrno, SysError } from "./errno.ts";
import { libc } from "./libc.ts";

/** The off_t sendfile(2) reads the start from (and advances; we keep our own count). */
const offset = new BigInt64Array(1);

/**
 * Sends up to `count` bytes of `fileFd` starting at `at` to the non-blocking socket `sockFd`.
 * Returns the bytes sent (> 0), 0 at the end of the file, -1 when the socket takes nothing now
 * (EAGAIN). Any other failure (EPIPE, ECONNRESET, …) throws a SysError.
 */
export function sendFile(sockFd: number, fileFd: number, at: number, count: number): number {
  for (;;) {
    offset[0] = BigInt(at);
    const n = Number(libc.sendfile(sockFd, fileFd, ptr(offset), count));
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return -1;
    throw new SysError("sendfile", errno, `socket fd ${sockFd}, file fd ${fileFd}`);
  }
}
