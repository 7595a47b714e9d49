// systemd integration for the supervisor: sd_notify(3) over $NOTIFY_SOCKET, so that
// `Type=notify-reload` units know when liveframe is ready, reloading and stopping; and
// sd_listen_fds(3) ($LISTEN_FDS / $LISTEN_PID) so socket-activated units hand us their
// listening sockets instead of liveframe binding its own.
import { ptr } from "bun:ffi";
import {
  AF_UNIX,
  check,
  isOpen,
  lastErrno,
  libc,
  sendFds,
  setCloexec,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SysError,
} from "../../ffi/index.ts";

/** sd_listen_fds(3): passed sockets start at fd 3 (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL (unix(7)). */
const SUN_PATH_MAX = 108;
const CLOCK_MONOTONIC = 1;

/** CLOCK_MONOTONIC in microseconds, the clock systemd compares RELOADING=1 against. */
export function monotonicMicros(): bigint {
  const ts = new BigInt64Array(2);
  check("clock_gettime", libc.clock_gettime(CLOCK_MONOTONIC, ptr(ts)));
  return ts[0]! * 1_000_000n + ts[1]! / 1000n;
}

/** sockaddr_un for a path, or an abstract name when it starts with "@" (as systemd writes it). */
export function unixAddress(path: string): { bytes: Uint8Array; length: number } {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  // Abstract names have no terminating NUL: their length is exactly what is given.
  const pathBytes = abstract ? 1 + name.byteLength : name.byteLength + 1;
  if (name.byteLength === 0 || pathBytes > SUN_PATH_MAX) {
    throw new Error(`NOTIFY_SOCKET ${JSON.stringify(path)}: a unix socket path must be 1 to ${SUN_PATH_MAX - 1} bytes`);
  }
  const bytes = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(name, abstract ? 3 : 2);
  return { bytes, length: 2 + pathBytes };
}

/**
 * A connected datagram socket to systemd's notification socket. Sends never block and never
 * throw: a lost notification must not take the server down, so failures are reported once
 * through `onError`.
 */
export class SystemdNotifier {
  readonly socketPath: string;
  #fd: number;
  #onError: (message: string) => void;
  #failed = false;

  constructor(socketPath: string, onError: (message: string) => void = (m) => console.error(m)) {
    this.socketPath = socketPath;
    this.#onError = onError;
    const addr = unixAddress(socketPath);
    this.#fd = check("socket", libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (libc.connect(this.#fd, ptr(addr.bytes), addr.length) < 0) {
      const err = new SysError("connect", lastErrno(), `NOTIFY_SOCKET ${socketPath}`);
      libc.close(this.#fd);
      throw err;
    }
  }

  /**
   * Reads $NOTIFY_SOCKET; undefined when it is unset. Removes it from `env` (like
   * sd_notify's unset_environment) so generations and the app do not talk to systemd
   * behind the supervisor's back.
   */
  static fromEnv(
    env: Record<string, string | undefined> = process.env,
    onError?: (message: string) => void,
  ): SystemdNotifier | undefined {
    const path = env.NOTIFY_SOCKET;
    if (path === undefined || path === "") return undefined;
    delete env.NOTIFY_SOCKET;
    return new SystemdNotifier(path, onError);
  }

  /** Sends one notification: `KEY=value` lines (sd_notify(3)). */
  notify(fields: Record<string, string | number | bigint>): boolean {
    if (this.#fd < 0) return false;
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, " ")}`)
      .join("\n");
    try {
      sendFds(this.#fd, [], new TextEncoder().encode(`${text}\n`));
      return true;
    } catch (e) {
      if (!this.#failed) {
        this.#failed = true;
        this.#onError(`liveframe: systemd notification failed (${(e as Error).message}); the server keeps running`);
      }
      return false;
    }
  }

  /** The server (first start, or after a reload) is serving. */
  ready(status: string, mainPid: number = process.pid): boolean {
    return this.notify({ READY: 1, MAINPID: mainPid, STATUS: status });
  }

  /** A reload began; systemd requires MONOTONIC_USEC with it for Type=notify-reload. */
  reloading(status: string): boolean {
    return this.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicMicros(), STATUS: status });
  }

  stopping(status: string): boolean {
    return this.notify({ STOPPING: 1, STATUS: status });
  }

  status(status: string): boolean {
    return this.notify({ STATUS: status });
  }

  close(): void {
    if (this.#fd >= 0) libc.close(this.#fd);
    this.#fd = -1;
  }
}

/**
 * sd_listen_fds(3): the sockets systemd passed us, when LISTEN_PID is this process. Returns
 * undefined when there are none. Clears LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES from `env` and
 * sets close-on-exec on the fds, so no child mistakes them for its own.
 */
export function listenFdsFromEnv(
  env: Record<string, string | undefined> = process.env,
  pid: number = process.pid,
): number[] | undefined {
  const rawPid = env.LISTEN_PID;
  const rawCount = env.LISTEN_FDS;
  if (rawCount === undefined || rawCount === "") return undefined;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  // Like sd_listen_fds(3): without LISTEN_PID naming this very process, the fds are not ours
  // (an inherited environment from a parent that was socket-activated).
  if (rawPid === undefined || rawPid !== String(pid)) return undefined;
  if (!/^\d+$/.test(rawCount)) {
    throw new Error(`LISTEN_FDS=${JSON.stringify(rawCount)}: expected a whole number of sockets passed by systemd`);
  }
  const count = Number(rawCount);
  if (count === 0) return undefined;
  if (count > 1024) throw new Error(`LISTEN_FDS=${count}: more sockets than liveframe accepts (1024)`);
  const fds: number[] = [];
  for (let fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; fd++) {
    if (!isOpen(fd)) {
      throw new Error(`LISTEN_FDS=${count} but fd ${fd} is not open: check the unit's .socket file`);
    }
    setCloexec(fd, true);
    fds.push(fd);
  }
  return fds;
}

/** The supervisor events systemd cares about (a structural subset of SupervisorEvent). */
export interface NotifiableEvent {
  readonly type: string;
  readonly [detail: string]: unknown;
}

const num = (v: unknown): string => (typeof v === "number" ? String(v) : "?");

/**
 * Maps supervisor events to sd_notify messages, for `Type=notify-reload`:
 * ready → READY=1 + MAINPID; reloading → RELOADING=1 + MONOTONIC_USEC; reloaded and
 * reload-failed → READY=1 (the reload is over either way: a failed one leaves the old
 * generation serving); stopping → STOPPING=1; everything else → STATUS= only.
 */
export function notifyOnEvent(notifier: SystemdNotifier, mainPid: number = process.pid): (e: NotifiableEvent) => void {
  return (e) => {
    // reloaded / reload-failed carry their ReloadOutcome as `outcome`.
    const o = (typeof e.outcome === "object" && e.outcome !== null ? e.outcome : e) as Record<string, unknown>;
    switch (e.type) {
      case "ready":
        notifier.ready(`serving: generation ${num(e.generation)} (pid ${num(e.pid)})`, mainPid);
        break;
      case "reloading":
        notifier.reloading(`reloading: generation ${num(e.from ?? e.generation)} → next`);
        break;
      case "reloaded":
        notifier.ready(`serving: generation ${num(o.to ?? o.generation)} (pid ${num(o.pid)})`, mainPid);
        break;
      case "reload-failed":
        notifier.ready(
          `serving: generation ${num(o.from ?? o.generation)}; last reload failed: ${String(o.error ?? "unknown error").slice(0, 200)}`,
          mainPid,
        );
        break;
      case "stopping":
        notifier.stopping("stopping: draining in-flight requests");
        break;
      case "restarting":
        notifier.status(`restarting a generation that exited (${String(e.reason ?? e.code ?? "crash")})`);
        break;
      default:
        break;
    }
  };
}
