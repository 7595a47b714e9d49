// The control socket: `liveframe reload|status|stop` talk to the supervisor here. One JSON
// request line per connection, one JSON response line back. Every peer's uid is checked with
// SO_PEERCRED before a byte of it is read; a foreign peer or a malformed request is logged and
// its connection dropped, nothing else happens.
//
// The socket lives in the runtime dir, which someone may remove while the server runs (a
// deploy's `rm -rf .liveframe`, `git clean -fdx`). The control server checks it (see
// RUNTIME_DIR_CHECK_MS, and on every reload or control request) and puts the dir (0700, checked
// as at start) and its socket back, so `liveframe status` keeps finding the server and a
// second `liveframe start` is refused as "already running". It also remembers which state
// files it has seen there, so a reload can refuse to start a generation whose state would be
// empty because its file went away.
import type { Socket, SocketHandler } from "bun";
import { existsSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { close, createUnixListener, getuid, peerCred, unixSocketListening } from "../../ffi/index.ts";
import { controlRequestSchema, parseMessage, type ControlRequest, type ControlResponse } from "../handoff/index.ts";
import { checkSocketPath, type FileId, lstatOrNull, RUNTIME_DIR_MODE, sameFile, secureRuntimeDir, stateFilesIn } from "./runtime-dir.ts";

/** A request is a few dozen bytes; anything longer is not a liveframe client. */
const MAX_REQUEST_BYTES = 4096;
/** A client that connects and says nothing is dropped after this long. */
const REQUEST_TIMEOUT_S = 10;
/** Commands come from a person or a deploy script: a handful at once at most. */
const CONTROL_BACKLOG = 64;
/**
 * How often the runtime dir and its socket are checked: two lstat(2) and one readdir(2), so
 * cheap; short enough that a `status` or `start` typed after an `rm -rf` finds the dir back.
 */
export const RUNTIME_DIR_CHECK_MS = 1000;
/** Read and write for the owner only (created so, through the umask: no wider window). */
const SOCKET_MODE = 0o600;

interface Peer {
  buffer: string;
  handled: boolean;
  who: string;
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export class ControlServer {
  readonly runtimeDir: string;
  private listener!: { stop(closeActiveConnections?: boolean): void };
  private socketId!: FileId;
  private dirId: FileId;
  private readonly timer: ReturnType<typeof setInterval>;
  /** State files seen in the runtime dir: one that goes missing must not come back empty. */
  private readonly stateFiles = new Set<string>();
  /** The last problem logged about the runtime dir: logged once, not every check. */
  private trouble: string | null = null;
  private stopped = false;

  constructor(
    readonly path: string,
    private readonly handle: ControlHandler,
    private readonly log: (line: string) => void = (line) => console.error(`liveframe: ${line}`),
  ) {
    this.runtimeDir = dirname(path);
    const dir = lstatOrNull(this.runtimeDir);
    if (!dir) throw new Error(`runtime dir ${this.runtimeDir} is gone`);
    this.dirId = { dev: dir.dev, ino: dir.ino };
    this.bind();
    this.noteStateFiles();
    this.timer = setInterval(() => this.ensure(), RUNTIME_DIR_CHECK_MS);
    this.timer.unref();
  }

  /**
   * Makes sure the runtime dir and the control socket are still the ones this server made; puts
   * them back (logging it) when they were removed. Returns false when they cannot be put back
   * (logged once): the server keeps serving and answers signals.
   */
  ensure(): boolean {
    if (this.stopped) return false;
    let what: string;
    try {
      const dir = lstatOrNull(this.runtimeDir);
      const sock = dir ? lstatOrNull(this.path) : null;
      if (dir && sock && sameFile(dir, this.dirId) && sameFile(sock, this.socketId)) {
        this.trouble = null;
        this.noteStateFiles();
        return true;
      }
      what = !dir ? "was removed" : !sameFile(dir, this.dirId) ? "was replaced" : !sock ? "lost its control socket" : "has another file at its control socket path";
    } catch (e) {
      what = `cannot be checked (${(e as Error).message})`;
    }
    try {
      const recreated = lstatOrNull(this.runtimeDir) === null;
      this.dirId = secureRuntimeDir(this.runtimeDir, this.log);
      if (checkSocketPath(this.path)) {
        if (unixSocketListening(this.path)) {
          throw new Error(`another process listens on ${this.path} now (a second \`liveframe start\` on this runtime dir?)`);
        }
        unlinkSync(this.path); // a socket nobody listens on any more
      }
      this.listener.stop(true); // closes our old socket; unlinks nothing (it was made from an fd)
      this.bind();
      this.trouble = null;
      const made = recreated ? `recreated it (mode ${RUNTIME_DIR_MODE.toString(8).padStart(4, "0")}) with its control socket` : "made its control socket again";
      this.log(`runtime dir ${this.runtimeDir} ${what} while serving: ${made}${this.lostNote()}`);
      this.noteStateFiles();
      return true;
    } catch (e) {
      const message =
        `runtime dir ${this.runtimeDir} ${what} while serving and cannot be restored: ${(e as Error).message}. ` +
        `The server keeps serving; until this is fixed, \`liveframe\` commands cannot reach it: kill -HUP ${process.pid} reloads, kill -TERM ${process.pid} stops`;
      if (message !== this.trouble) this.log(message);
      this.trouble = message;
      return false;
    }
  }

  /** State files this server has seen in its runtime dir that are not there now. */
  missingStateFiles(): string[] {
    return [...this.stateFiles].filter((f) => !existsSync(f));
  }

  /**
   * State files still missing after giving the serving generation time to restore them: it
   * rewrites a deleted state file from its live mapping within a second (src/state/file-watch.ts),
   * so a reload right after an `rm -rf` waits for that instead of being refused.
   */
  async waitForStateFiles(maxMs = STATE_RESTORE_WAIT_MS): Promise<string[]> {
    const until = performance.now() + maxMs;
    let lost = this.missingStateFiles();
    while (lost.length > 0 && performance.now() < until) {
      await Bun.sleep(STATE_RESTORE_POLL_MS);
      lost = this.missingStateFiles();
    }
    return lost;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.listener.stop(true);
    // Only our own socket: after an `rm -rf` and a second start, the path may be another's.
    const now = lstatOrNull(this.path);
    if (now && sameFile(now, this.socketId)) unlinkSync(this.path);
  }

  /** Binds a fresh socket at `path` (nothing may be there) and serves it. */
  private bind(): void {
    // 0600 from bind(2) on, through the umask (no window in which it is wider), then checked.
    const umask = process.umask(0o777 & ~SOCKET_MODE);
    let fd: number;
    try {
      fd = createUnixListener(this.path, CONTROL_BACKLOG);
    } finally {
      process.umask(umask);
    }
    const st = lstatOrNull(this.path);
    const uid = getuid();
    if (!st || !st.isSocket() || (st.mode & 0o777) !== SOCKET_MODE || st.uid !== uid) {
      close(fd);
      throw new Error(`the control socket ${this.path} is not the 0600 socket of uid ${uid} just made: something changed it; remove it and start again`);
    }
    this.socketId = { dev: st.dev, ino: st.ino };
    const socket: SocketHandler<Peer> = {
      open: (s) => this.onOpen(s),
      data: (s, d) => this.onData(s, d),
      timeout: (s) => this.drop(s, `said nothing within ${REQUEST_TIMEOUT_S} s`),
      error: () => {},
    };
    // Bun.listen({fd}) serves a socket we bound: its stop() closes it and unlinks nothing.
    this.listener = Bun.listen<Peer>({ fd, socket } as unknown as Parameters<typeof Bun.listen<Peer>>[0]);
  }

  private noteStateFiles(): void {
    for (const f of stateFilesIn(this.runtimeDir)) this.stateFiles.add(f);
  }

  private lostNote(): string {
    const lost = this.missingStateFiles();
    return lost.length === 0 ? "" : `; ${missingStateMessage(lost)}`;
  }

  private onOpen(s: Socket<Peer>): void {
    s.data = { buffer: "", handled: false, who: "control peer" };
    const fd = (s as unknown as { fd?: number }).fd;
    let cred: { pid: number; uid: number } | null = null;
    try {
      if (typeof fd === "number") cred = peerCred(fd);
    } catch {
      // fall through: unknown peer
    }
    if (!cred) return this.drop(s, "its credentials could not be read (SO_PEERCRED)");
    s.data.who = `control peer pid ${cred.pid} uid ${cred.uid}`;
    const uid = getuid();
    if (cred.uid !== uid && cred.uid !== 0) {
      return this.drop(s, `refused: only uid ${uid} or root may control this server`);
    }
    s.timeout(REQUEST_TIMEOUT_S);
  }

  private onData(s: Socket<Peer>, d: Buffer): void {
    const peer = s.data;
    if (peer.handled) return this.drop(s, "sent more than one request");
    peer.buffer += d.toString("utf8");
    if (peer.buffer.length > MAX_REQUEST_BYTES) return this.drop(s, `sent more than ${MAX_REQUEST_BYTES} bytes`);
    const nl = peer.buffer.indexOf("\n");
    if (nl < 0) return;
    peer.handled = true;
    let req: ControlRequest;
    try {
      req = parseMessage(controlRequestSchema, JSON.parse(peer.buffer.slice(0, nl)), peer.who);
    } catch (err) {
      return this.drop(s, `sent a malformed request: ${(err as Error).message}`);
    }
    s.timeout(0);
    this.handle(req).then(
      (result) => reply(s, { ok: true, cmd: req.cmd, result }),
      (err: Error) => reply(s, { ok: false, error: err.message }),
    );
  }

  private drop(s: Socket<Peer>, why: string): void {
    console.error(`liveframe: control socket: ${s.data?.who ?? "control peer"} ${why}; connection dropped`);
    s.terminate();
  }
}

/** How long a reload waits for a missing state file to be restored: the serving generation checks its files every second. */
export const STATE_RESTORE_WAIT_MS = 3_000;
const STATE_RESTORE_POLL_MS = 50;

/**
 * Why a reload is refused while state files are missing: the new generation would map a fresh,
 * empty file, and the values the serving generation holds would be gone after the handover.
 */
export function missingStateMessage(lost: string[]): string {
  const files = lost.join(", ");
  return (
    `state file${lost.length === 1 ? "" : "s"} ${files} ${lost.length === 1 ? "is" : "are"} missing (was the runtime dir removed?): ` +
    `a reload now would start ${lost.length === 1 ? "that state" : "those states"} empty, so reloads are refused until ${lost.length === 1 ? "it is" : "they are"} back; ` +
    `the serving generation keeps serving with the values it holds. To start empty on purpose, stop the server and start it again`
  );
}

function reply(s: Socket<Peer>, r: ControlResponse): void {
  s.end(JSON.stringify(r) + "\n");
}
