// Passing file descriptors between processes: sendmsg(2)/recvmsg(2) with SCM_RIGHTS
// (unix(7), cmsg(3)). x86_64/aarch64 layouts: struct msghdr is 56 bytes (name @0, namelen @8,
// iov @16, iovlen @24, control @32, controllen @40, flags @48); struct iovec 16 bytes;
// struct cmsghdr: len (size_t) @0, level @8, type @12, data @16.
import { ptr } from "bun:ffi";
import { checkSize, EAGAIN, EINTR, EMFILE, lastErrno, SysError } from "./errno.ts";
import { describeFdUse } from "./fd-limit.ts";
import { libc } from "./libc.ts";

/** The kernel refuses more than this many fds in one message (SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const CMSG_HEADER = 16;

const cmsgSpace = (bytes: number) => CMSG_HEADER + ((bytes + 7) & ~7);

function buildMsghdr(iov: BigUint64Array, control: Uint8Array | null): Uint8Array {
  const msg = new Uint8Array(56);
  const dv = new DataView(msg.buffer);
  dv.setBigUint64(16, BigInt(ptr(iov)), true);
  dv.setBigUint64(24, 1n, true);
  if (control) {
    dv.setBigUint64(32, BigInt(ptr(control)), true);
    dv.setBigUint64(40, BigInt(control.byteLength), true);
  }
  return msg;
}

/**
 * Sends `data` (at least one byte: stream sockets drop ancillary data without payload)
 * and up to 253 fds in one sendmsg(2). Blocks if the socket is blocking. The receiver gets
 * its own references; this process still owns its copies and must close them itself.
 */
export function sendFds(sock: number, fds: readonly number[], data: Uint8Array): void {
  if (data.byteLength === 0) throw new Error("sendFds: data must be at least one byte");
  if (fds.length > MAX_FDS_PER_MESSAGE) {
    throw new Error(`sendFds: ${fds.length} fds in one message; the kernel allows ${MAX_FDS_PER_MESSAGE}: batch them`);
  }
  const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.byteLength)]);
  let control: Uint8Array | null = null;
  if (fds.length > 0) {
    control = new Uint8Array(cmsgSpace(4 * fds.length));
    const dv = new DataView(control.buffer);
    dv.setBigUint64(0, BigInt(CMSG_HEADER + 4 * fds.length), true);
    dv.setInt32(8, SOL_SOCKET, true);
    dv.setInt32(12, SCM_RIGHTS, true);
    for (let i = 0; i < fds.length; i++) dv.setInt32(CMSG_HEADER + 4 * i, fds[i]!, true);
  }
  const msg = buildMsghdr(iov, control);
  for (let attempt = 0; ; attempt++) {
    const n = Number(libc.sendmsg(sock, ptr(msg), MSG_NOSIGNAL));
    if (n >= 0) {
      // A stream socket may take the data partly; the fds ride with the first byte.
      if (n < data.byteLength) throw new Error(`sendmsg: short write (${n} of ${data.byteLength} bytes)`);
      break;
    }
    const errno = lastErrno();
    if (errno === EINTR && attempt < 100) continue;
    throw new SysError("sendmsg", errno, `${fds.length} fds on socket ${sock}`);
  }
  // Keep every buffer a pointer was taken of alive until sendmsg has returned.
  void iov;
  void control;
}

export interface Received {
  /** The payload bytes of this message. */
  data: Uint8Array;
  /** Adopted fds, close-on-exec. The caller owns them. */
  fds: number[];
}

export interface RecvOptions {
  /** Room for at least this many fds (default 253); a message with more is an error (MSG_CTRUNC). */
  maxFds?: number;
  /** Payload buffer size; a longer datagram is an error (MSG_TRUNC). */
  maxBytes?: number;
  /** Return null instead of blocking when nothing is queued. */
  nonBlocking?: boolean;
}

/**
 * Receives one message with up to `maxFds` fds (recvmsg(2), MSG_CMSG_CLOEXEC).
 * Returns null at end of stream, or when nonBlocking and nothing is queued.
 * If the fds did not all arrive (MSG_CTRUNC), the ones that did are closed and an error is
 * thrown: a silently lost fd is a lost connection. When the buffer had room, the cause is that
 * this process is out of fds: a SysError with code EMFILE, naming how many are open.
 */
export function recvFds(sock: number, opts: RecvOptions = {}): Received | null {
  const maxFds = opts.maxFds ?? MAX_FDS_PER_MESSAGE;
  const data = new Uint8Array(opts.maxBytes ?? 65536);
  const iov = new BigUint64Array([BigInt(ptr(data)), BigInt(data.byteLength)]);
  const control = new Uint8Array(cmsgSpace(4 * maxFds));
  const msg = buildMsghdr(iov, control);
  const flags = MSG_CMSG_CLOEXEC | (opts.nonBlocking ? MSG_DONTWAIT : 0);
  let n = -1;
  for (let attempt = 0; attempt < 100; attempt++) {
    n = Number(libc.recvmsg(sock, ptr(msg), flags));
    if (n >= 0) break;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN && opts.nonBlocking) return null;
    throw new SysError("recvmsg", errno, `socket ${sock}`);
  }
  checkSize("recvmsg", n, `socket ${sock}`);
  const dv = new DataView(msg.buffer);
  const msgFlags = dv.getInt32(48, true);
  const controlLen = Number(dv.getBigUint64(40, true));
  const fds: number[] = [];
  const cdv = new DataView(control.buffer);
  let off = 0;
  while (off + CMSG_HEADER <= controlLen) {
    const len = Number(cdv.getBigUint64(off, true));
    if (len < CMSG_HEADER) break;
    const level = cdv.getInt32(off + 8, true);
    const type = cdv.getInt32(off + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      const count = (len - CMSG_HEADER) >> 2;
      for (let i = 0; i < count; i++) fds.push(cdv.getInt32(off + CMSG_HEADER + 4 * i, true));
    }
    off += cmsgSpace(len - CMSG_HEADER);
  }
  if (msgFlags & MSG_CTRUNC && fds.length < maxFds) {
    // Room was left in the buffer, so the kernel could not install the fds: it takes each one in
    // the lowest free slot and, with none left (EMFILE), drops the rest and sets MSG_CTRUNC.
    for (const fd of fds) libc.close(fd);
    throw new SysError(
      "recvmsg",
      EMFILE,
      `the message on socket ${sock} carried fds this process could not take: it is out of file descriptors` +
        `: ${describeFdUse()}; ${fds.length > 0 ? `the ${fds.length} that arrived were closed, the rest` : "they"} were dropped by the kernel`,
    );
  }
  if (msgFlags & (MSG_CTRUNC | MSG_TRUNC)) {
    for (const fd of fds) libc.close(fd);
    const what = msgFlags & MSG_CTRUNC ? `more than ${maxFds} fds (MSG_CTRUNC)` : `more than ${data.byteLength} bytes (MSG_TRUNC)`;
    throw new Error(`recvmsg: message on socket ${sock} carried ${what}; the fds it carried were closed`);
  }
  if (n === 0 && fds.length === 0) return null;
  return { data: data.slice(0, n), fds };
}
