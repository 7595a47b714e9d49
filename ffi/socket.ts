// Sockets through libc: what Bun's API cannot do (bind a listener we own, read a peer's
// credentials, make socketpairs to pass to children). Layouts per socket(7), ip(7), ipv6(7).
import { ptr } from "bun:ffi";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_ERROR = 4;
export const SO_LINGER = 13;
export const SO_REUSEPORT = 15;
export const SO_PEERCRED = 17;
export const SO_ACCEPTCONN = 30;
export const SO_DOMAIN = 39;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

export interface SockAddr {
  family: "IPv4" | "IPv6" | "unix";
  address: string;
  port: number;
}

/** socket(2) */
export function socket(domain: number, type: number, protocol = 0): number {
  return check("socket", libc.socket(domain, type, protocol));
}

/** close(2). Errors other than EBADF are not actionable after a close; EBADF is a bug. */
export function close(fd: number): void {
  check("close", libc.close(fd), `fd ${fd}`);
}

/** dup(2), with FD_CLOEXEC set on the copy so children never inherit it by accident. */
export function dup(fd: number): number {
  const copy = check("dup", libc.dup(fd), `fd ${fd}`);
  setCloexec(copy, true);
  return copy;
}

/** fcntl(2) F_SETFD FD_CLOEXEC */
export function setCloexec(fd: number, on: boolean): void {
  const flags = check("fcntl(F_GETFD)", libc.fcntl(fd, F_GETFD, 0));
  check("fcntl(F_SETFD)", libc.fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC));
}

/** fcntl(2) F_SETFL O_NONBLOCK */
export function setNonBlocking(fd: number, on: boolean): void {
  const flags = check("fcntl(F_GETFL)", libc.fcntl(fd, F_GETFL, 0));
  check("fcntl(F_SETFL)", libc.fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK));
}

/** True when fd is open in this process (fcntl F_GETFD succeeds). */
export function isOpen(fd: number): boolean {
  return libc.fcntl(fd, F_GETFD, 0) >= 0;
}

/** setsockopt(2) with an int value. */
export function setIntOption(fd: number, level: number, name: number, value: number): void {
  const v = new Int32Array([value]);
  check("setsockopt", libc.setsockopt(fd, level, name, ptr(v), 4), `option ${level}/${name}`);
}

/** getsockopt(2) for an int value. */
export function getIntOption(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  check("getsockopt", libc.getsockopt(fd, level, name, ptr(v), ptr(len)), `option ${level}/${name}`);
  return v[0]!;
}

/** Clears SO_LINGER so a later close sends FIN, never RST (see feasibility: terminate()). */
export function clearLinger(fd: number): void {
  const linger = new Int32Array([0, 0]);
  check("setsockopt(SO_LINGER)", libc.setsockopt(fd, SOL_SOCKET, SO_LINGER, ptr(linger), 8));
}

function ipv4Bytes(address: string): Uint8Array | null {
  const parts = address.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function ipv6Bytes(address: string): Uint8Array | null {
  let text = address;
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  if (!text.includes(":") || text.includes("%")) return null;
  const out = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const groups: number[] = [];
    const items = s.split(":");
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (i === items.length - 1 && g.includes(".")) {
        const v4 = ipv4Bytes(g);
        if (!v4) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        groups.push(parseInt(g, 16));
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  return out;
}

function formatIPv6(b: Uint8Array): string {
  // An IPv4-mapped address (a v4 client on a dual-stack listener) ends in dotted form, as
  // RFC 5952 §5 recommends and Bun's socket.remoteAddress writes it: "::ffff:127.0.0.1".
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Encodes a numeric IPv4/IPv6 address (or "localhost") as a sockaddr. */
export function encodeSockAddr(address: string, port: number): { family: number; bytes: Uint8Array } {
  const host = address === "localhost" ? "127.0.0.1" : address;
  const v4 = ipv4Bytes(host);
  if (v4) {
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    dv.setUint16(0, AF_INET, true);
    dv.setUint16(2, port, false);
    b.set(v4, 4);
    return { family: AF_INET, bytes: b };
  }
  const v6 = ipv6Bytes(host);
  if (v6) {
    const b = new Uint8Array(28);
    const dv = new DataView(b.buffer);
    dv.setUint16(0, AF_INET6, true);
    dv.setUint16(2, port, false);
    b.set(v6, 8);
    return { family: AF_INET6, bytes: b };
  }
  throw new Error(
    `address "${address}" is not a numeric IPv4 or IPv6 address: use e.g. 0.0.0.0, 127.0.0.1, :: or ::1`,
  );
}

function decodeSockAddr(b: Uint8Array, len: number): SockAddr {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = dv.getUint16(0, true);
  if (family === AF_INET) {
    return { family: "IPv4", address: Array.from(b.subarray(4, 8)).join("."), port: dv.getUint16(2, false) };
  }
  if (family === AF_INET6) {
    return { family: "IPv6", address: formatIPv6(b.subarray(8, 24)), port: dv.getUint16(2, false) };
  }
  if (family === AF_UNIX) {
    const raw = b.subarray(2, Math.max(2, len));
    const end = raw.indexOf(0);
    return { family: "unix", address: new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw), port: 0 };
  }
  return { family: "unix", address: `family ${family}`, port: 0 };
}

function nameOf(call: "getsockname" | "getpeername", fd: number): SockAddr {
  const b = new Uint8Array(128);
  const len = new Uint32Array([128]);
  check(call, libc[call](fd, ptr(b), ptr(len)), `fd ${fd}`);
  return decodeSockAddr(b, len[0]!);
}

/** getsockname(2): the local address a socket is bound to. */
export function getSockName(fd: number): SockAddr {
  return nameOf("getsockname", fd);
}

/** getpeername(2): the remote address of a connected socket. */
export function getPeerName(fd: number): SockAddr {
  return nameOf("getpeername", fd);
}

export interface ListenOptions {
  /** Numeric address; "::" listens on IPv6 and IPv4 (dual stack). */
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** listen(2) backlog; the kernel caps it at net.core.somaxconn. */
  backlog: number;
  /** SO_REUSEPORT: join (or start) a group of sockets on this address and port. */
  reusePort?: boolean;
}

/**
 * Creates, binds and listens on a TCP socket liveframe owns (socket(2), bind(2), listen(2)).
 * The fd is close-on-exec: it reaches another process only when it is passed on purpose.
 */
export function createListener(opts: ListenOptions): { fd: number; address: SockAddr } {
  const { family, bytes } = encodeSockAddr(opts.hostname, opts.port);
  const fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC);
  try {
    setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    // One socket per worker slot in a reuseport group (--spread reuseport): the kernel spreads
    // new connections over the group's sockets by a hash of their addresses.
    if (opts.reusePort) setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (family === AF_INET6) setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts.hostname === "::" ? 0 : 1);
    check("bind", libc.bind(fd, ptr(bytes), bytes.byteLength), `${opts.hostname} port ${opts.port}`);
    check("listen", libc.listen(fd, opts.backlog));
    return { fd, address: getSockName(fd) };
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}

/** True when fd is a listening socket (SO_ACCEPTCONN). */
export function isListening(fd: number): boolean {
  return getIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN) === 1;
}

/** socketpair(2) AF_UNIX, close-on-exec on both ends. */
export function socketPair(type: number = SOCK_STREAM): [number, number] {
  const fds = new Int32Array(2);
  check("socketpair", libc.socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ptr(fds)));
  return [fds[0]!, fds[1]!];
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED (unix(7)): who is on the other end of a unix socket. */
export function peerCred(fd: number): PeerCred {
  const cred = new Int32Array(3);
  const len = new Uint32Array([12]);
  check("getsockopt(SO_PEERCRED)", libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(cred), ptr(len)));
  return { pid: cred[0]!, uid: cred[1]! >>> 0, gid: cred[2]! >>> 0 };
}

/** getuid(2) */
export function getuid(): number {
  return libc.getuid();
}

/** sun_path holds 108 bytes with its terminating NUL (unix(7)). */
export const MAX_UNIX_PATH = 107;

/** struct sockaddr_un (unix(7)): sa_family_t, then the NUL-terminated path. */
function unixSockAddr(path: string): Uint8Array {
  const name = new TextEncoder().encode(path);
  if (name.byteLength > MAX_UNIX_PATH) throw new Error(`unix socket path ${path} is longer than ${MAX_UNIX_PATH} bytes`);
  const b = new Uint8Array(2 + name.byteLength + 1);
  new DataView(b.buffer).setUint16(0, AF_UNIX, true);
  b.set(name, 2);
  return b;
}

/**
 * Creates, binds and listens on a unix stream socket at `path` (socket(2), bind(2), listen(2)),
 * close-on-exec. The file gets mode 0777 & ~umask (bind(2) applies the umask). Nothing ever
 * unlinks the path on close: whoever made it decides (Bun.listen({unix}).stop() unlinks the
 * path even when it names another socket by then).
 */
export function createUnixListener(path: string, backlog: number): number {
  const addr = unixSockAddr(path);
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
  try {
    check("bind", libc.bind(fd, ptr(addr), addr.byteLength), path);
    check("listen", libc.listen(fd, backlog));
    return fd;
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}

/**
 * True when a process listens on the unix stream socket at `path`: a non-blocking connect(2)
 * that never waits (unix(7): a full backlog is EAGAIN, still someone listening). False on
 * ECONNREFUSED (a socket file whose listener is gone) and ENOENT; other errors throw.
 */
export function unixSocketListening(path: string): boolean {
  const addr = unixSockAddr(path);
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK);
  try {
    check("connect", libc.connect(fd, ptr(addr), addr.byteLength), path);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EAGAIN") return true;
    if (code === "ECONNREFUSED" || code === "ENOENT") return false;
    throw err;
  } finally {
    libc.close(fd);
  }
}
