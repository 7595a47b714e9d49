// The engine's server: listeners, the set of connections, the clock that enforces timeouts, and
// the release/adopt half of a handoff. The public contract is `HttpServer` in types.ts.
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { close, createListener, getPeerName, getSockName, isListening, isOpen, SysError } from "../../ffi/index.ts";
import { AcceptGate } from "./accept-gate.ts";
import { Connection } from "./connection.ts";
import { State, type ConnectionHost } from "./connection-state.ts";
import { createServerEnv, type ServerEnv } from "./conninfo.ts";
import { installResponseSource } from "./response-source.ts";
import { parseServerOptions, type ServerLimits, type ServerOptions } from "./limits.ts";
import type { ConnectionCounts, FetchApp, HttpServer, ReleasedConnection } from "./types.ts";
import { adoptWebSocket, webSocketConfig, type WebSocketConfig, type WebSocketServeOptions } from "./ws-link.ts";
import type { MovedWebSocket } from "../ws/moved.ts";
import { Topics } from "../ws/topics.ts";

/** The clock tick that enforces timeouts: a quarter of the shortest timeout, within these bounds. */
const MIN_TICK_MS = 25;
const MAX_TICK_MS = 1000;
/** How often stop() re-checks whether in-flight requests have finished. */
const STOP_POLL_MS = 10;

/** socket.data before the Connection exists: who accepted it, and bytes to parse first (adopt). */
interface Pending {
  server: ServerCore;
  buffered: Uint8Array | undefined;
  /** A WebSocket that moved here (adopt): restored, never parsed as HTTP. */
  websocket?: MovedWebSocket;
}

const handlers: SocketHandler<any> = {
  open(socket: Socket<any>) {
    const pending = socket.data as Pending;
    const conn = new Connection(pending.server, socket);
    socket.data = conn;
    pending.server.track(conn);
    if (pending.websocket !== undefined) {
      adoptWebSocket(conn, pending.websocket, pending.server.app, pending.server.env);
    } else if (pending.buffered !== undefined && pending.buffered.byteLength > 0) {
      conn.onData(Buffer.from(pending.buffered.buffer, pending.buffered.byteOffset, pending.buffered.byteLength));
    } else {
      conn.process(); // starts the idle keep-alive clock
    }
  },
  data(socket: Socket<any>, data: Buffer) {
    (socket.data as Connection).onData(data);
  },
  drain(socket: Socket<any>) {
    (socket.data as Connection).onDrain();
  },
  end(socket: Socket<any>) {
    (socket.data as Connection).onEnd();
  },
  close(socket: Socket<any>) {
    const c = socket.data;
    if (c instanceof Connection) c.onClose();
  },
  error(socket: Socket<any>, _error: Error) {
    // Nothing to answer on a broken socket: treat it as closed now (onClose runs once, so the
    // close event that may follow is a no-op).
    const c = socket.data;
    if (c instanceof Connection) c.onClose();
  },
};

export class ServerCore implements HttpServer, ConnectionHost<Connection> {
  readonly limits: ServerLimits;
  /** Cached clock (ms) for deadlines, advanced by the tick. */
  now = Date.now();
  releasing: ((c: ReleasedConnection) => void) | null = null;
  private readonly conns = new Set<Connection>();
  /** The listeners, and when they accept (paused near the fd limit or while a handover decides). */
  private readonly gate = new AcceptGate({
    connections: () => this.conns.size,
    accept: (fd) => {
      const data: Pending = { server: this, buffered: undefined };
      return Bun.listen({ fd, socket: handlers, data, allowHalfOpen: true } as any) as TCPSocketListener<any>;
    },
  });
  private releasedCount = 0;
  /** Responses completed since this server was created (Connection.finish counts them). */
  completedCount = 0;
  private tick: ReturnType<typeof setInterval> | null = null;
  private readonly tickMs: number;
  /** stop() was called: connections close once their current request is answered. */
  stopped = false;
  /** Passed as the second argument of app.fetch, as Bun.serve passes its server (c.env). */
  /** Bun-style topics of this server's WebSockets (ws.subscribe, server.publish). */
  readonly topics = new Topics();
  readonly env: ServerEnv = createServerEnv(this.topics);
  /** WebSocket handlers and limits (ws-link.ts webSocketConfig: upgradeWebSocket's unless given). */
  readonly websocket: WebSocketConfig;

  constructor(
    readonly app: FetchApp,
    options?: ServerOptions & { websocket?: WebSocketServeOptions },
  ) {
    if (app === null || typeof app !== "object" || typeof (app as FetchApp).fetch !== "function") {
      throw new TypeError("liveframe: the app must be an object with a fetch(request) method, e.g. a Hono app");
    }
    const { websocket, ...httpOptions } = options ?? {};
    this.websocket = webSocketConfig(app, websocket);
    this.limits = parseServerOptions(httpOptions);
    installResponseSource();
    const l = this.limits;
    const shortest = Math.min(l.headersTimeoutMs, l.requestTimeoutMs, l.keepAliveTimeoutMs);
    this.tickMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / 4)));
  }

  get port(): number {
    return this.gate.port;
  }

  get listenerFds(): number[] {
    return this.gate.fds;
  }

  listen(fd: number): void {
    if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`liveframe: listen(fd) needs a file descriptor, got ${fd}`);
    if (!isOpen(fd)) throw new Error(`liveframe: cannot listen on fd ${fd}: it is not open in this process`);
    if (!listening(fd)) throw new Error(`liveframe: cannot listen on fd ${fd}: it is not a listening socket (create one with listenOn or createListener)`);
    this.gate.add(fd, getSockName(fd).port);
    this.stopped = false;
    this.startClock();
  }

  listenOn(o: { port: number; hostname: string; backlog?: number }): number {
    let created: { fd: number };
    try {
      created = createListener({ hostname: o.hostname, port: o.port, backlog: o.backlog ?? DEFAULT_BACKLOG });
    } catch (err) {
      throw explainListenError(err, o.hostname, o.port);
    }
    this.listen(created.fd);
    return created.fd;
  }

  stopAccepting(): void {
    this.gate.close();
  }

  pauseAccepting(): void {
    this.gate.pause();
  }

  resumeAccepting(): void {
    this.gate.resume();
  }

  get accepting(): boolean {
    return this.gate.accepting;
  }

  reserveForAdoption(n: number, opts: { lapses?: boolean } = {}): void {
    this.gate.reserve(n, opts.lapses);
  }

  adoptCapacity(): number {
    return this.gate.adoptCapacity();
  }

  get fdLimit(): number {
    return this.gate.budget.limit;
  }

  adopt(fd: number, buffered?: Uint8Array, websocket?: MovedWebSocket): void {
    if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`liveframe: adopt(fd) needs a connected socket fd, got ${fd}`);
    if (!isOpen(fd)) throw new Error(`liveframe: cannot adopt fd ${fd}: it is not open in this process (was it received with recvFds?)`);
    const data: Pending = { server: this, buffered, websocket };
    this.gate.adopted();
    this.startClock();
    const opening = Bun.connect({ fd, socket: handlers, data, allowHalfOpen: true } as any) as unknown as Promise<unknown>;
    opening.catch((err) => {
      // Bun rejects later than this call returns, so the caller already counted it adopted.
      // Bun leaves the fd open when it refuses it (measured: a regular file's fd), and it is ours
      // alone now: close it, or the client would hang on a socket nobody reads.
      let closed = "closed it here";
      try {
        close(fd);
      } catch (e) {
        closed = `closing it failed too: ${(e as Error).message}`;
      }
      console.error(
        `liveframe: adopting connection fd ${fd} failed after it was accepted (${(err as Error)?.message ?? err}); ` +
          `that connection is lost (${closed}); the client sees it close and may retry`,
      );
    });
  }

  release(onReleasable: (c: ReleasedConnection) => void): void {
    if (typeof onReleasable !== "function") throw new TypeError("liveframe: release(onReleasable) needs a callback");
    this.releasing = onReleasable;
    for (const c of [...this.conns]) if (c.ws !== null) this.moveWebSocket(c);
    for (const c of [...this.conns]) if (c.isIdle && !c.kept) this.releaseIdle(c);
  }

  /** A connection idle at a request boundary while releasing: pause it and pass it on. */
  releaseIdle(c: Connection): void {
    const cb = this.releasing;
    if (cb === null || !c.isIdle) return;
    c.pauseForRelease();
    const server = this;
    let settled = false;
    const fd = (c.socket as unknown as { fd: number }).fd;
    const remote = peerOf(fd, c);
    const released: ReleasedConnection = {
      fd,
      get buffered() {
        return c.unconsumed();
      },
      remote,
      get closed() {
        return c.state === State.Closed;
      },
      handedOver() {
        if (settled) return;
        settled = true;
        server.releasedCount++;
        c.dropAfterHandover();
      },
      keep() {
        if (settled) return;
        settled = true;
        c.resumeAfterRelease();
      },
    };
    passOn(cb, released, "the connection");
  }

  /**
   * A WebSocket while releasing: it moves at its next message boundary, with everything it sent
   * flushed (WebSocketLink.prepareToMove), then is passed on like an idle HTTP connection, its
   * MovedWebSocket record beside the fd. One that never reaches a boundary is closed with 1012
   * at the drain deadline (closeBusy).
   */
  moveWebSocket(c: Connection): void {
    const link = c.ws;
    if (link === null || !link.canMove || c.kept || c.state >= State.Released) return;
    link.prepareToMove(() => this.releaseWebSocket(c));
  }

  private releaseWebSocket(c: Connection): void {
    const link = c.ws!;
    const cb = this.releasing;
    if (cb === null) return link.cancelMove();
    c.pauseForRelease();
    const server = this;
    let settled = false;
    const fd = (c.socket as unknown as { fd: number }).fd;
    const remote = peerOf(fd, c);
    // Taken now, at the boundary (onMovable runs synchronously there) with reading paused: the
    // sender reads it later, when the session may no longer be movable (an app send meanwhile).
    const record = link.snapshot();
    const released: ReleasedConnection = {
      fd,
      buffered: new Uint8Array(0), // the session holds what was read past the boundary: in the record
      websocket: record,
      remote,
      get closed() {
        return c.state === State.Closed;
      },
      handedOver() {
        if (settled) return;
        settled = true;
        if (!link.handedOver()) {
          // Let go without ever being sent (refused twice by the receiver): it cannot stay
          // here and did not move, so it closes cleanly with 1012 and the client reconnects.
          c.state = State.Writing;
          c.socket.resume();
          link.cancelMove();
          link.closeForRestart();
          return;
        }
        server.releasedCount++;
        c.dropAfterHandover();
      },
      keep() {
        if (settled) return;
        settled = true;
        if (c.state !== State.Released) return;
        c.state = State.Writing;
        c.kept = true; // not offered again during this release (it would loop)
        c.socket.resume();
        link.cancelMove();
      },
    };
    passOn(cb, released, "the WebSocket");
  }

  get counts(): ConnectionCounts {
    let idle = 0;
    let busy = 0;
    let paused = 0;
    for (const c of this.conns) {
      if (c.state === State.Released) paused++;
      else if (c.isIdle) idle++;
      else busy++;
    }
    return { open: this.conns.size, idle, busy, released: this.releasedCount, releasing: paused, completed: this.completedCount };
  }

  closeBusy(): number {
    let cut = 0;
    for (const c of [...this.conns]) {
      if (!c.isIdle && c.state !== State.Released && c.state !== State.Closed) {
        cut++;
        // A WebSocket that could not move in time: 1012 (service restart), the client reconnects.
        if (c.ws !== null && c.state < State.Closing) c.ws.closeForRestart();
        else c.cut();
      }
    }
    return cut;
  }

  stopReleasing(): void {
    this.releasing = null;
    // "Kept" means "not offered again during this release": with the release over, a later
    // release (to another peer) offers every idle connection again.
    for (const c of this.conns) {
      c.kept = false;
      // A WebSocket waiting for its boundary carries on here (one already passed on is the sender's).
      if (c.ws !== null && c.ws.isMoving && c.state !== State.Released) c.ws.cancelMove();
    }
  }

  async stop(opts?: { graceful?: boolean; timeoutMs?: number }): Promise<void> {
    const graceful = opts?.graceful ?? true;
    this.stopAccepting();
    this.stopped = true;
    if (!graceful) {
      for (const c of [...this.conns]) c.cut();
    } else {
      for (const c of [...this.conns]) c.closeWhenIdle();
      const deadline = Date.now() + (opts?.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      while (this.conns.size > 0 && Date.now() < deadline) await Bun.sleep(STOP_POLL_MS);
      for (const c of [...this.conns]) c.cut();
    }
    while (this.conns.size > 0) await Bun.sleep(STOP_POLL_MS);
    this.stopClock();
  }

  // ---- used by Connection -------------------------------------------------------------------

  track(c: Connection): void {
    this.conns.add(c);
    if (this.stopped) c.closeWhenIdle();
    else this.gate.opened();
  }

  forget(c: Connection): void {
    this.conns.delete(c);
    this.gate.closed();
  }

  private startClock(): void {
    if (this.tick !== null) return;
    this.tick = setInterval(() => {
      const now = (this.now = Date.now());
      for (const c of this.conns) if (c.deadline !== 0 && c.deadline <= now) c.expire();
      this.gate.tick();
    }, this.tickMs);
    // The clock alone must not keep a process alive: listeners and sockets do that.
    (this.tick as { unref?: () => void }).unref?.();
  }

  private stopClock(): void {
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = null;
  }
}

/** SO_ACCEPTCONN, with "not a socket at all" counted as not listening. */
function listening(fd: number): boolean {
  try {
    return isListening(fd);
  } catch {
    return false;
  }
}

/** listen(2) backlog when none is given: the kernel caps it at net.core.somaxconn anyway. */
export const DEFAULT_BACKLOG = 511;
/** How long a graceful stop() waits for in-flight requests before cutting them. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

function explainListenError(err: unknown, hostname: string, port: number): Error {
  if (err instanceof SysError) {
    if (err.code === "EADDRINUSE") {
      return new Error(`port ${port} on ${hostname} is in use by another process (EADDRINUSE): stop it or pick another port`, { cause: err });
    }
    if (err.code === "EACCES") {
      return new Error(`not allowed to bind ${hostname} port ${port} (EACCES): ports below 1024 need privileges; pick a port ≥ 1024`, { cause: err });
    }
    if (err.code === "EADDRNOTAVAIL") {
      return new Error(`address ${hostname} is not available on this machine (EADDRNOTAVAIL): use 0.0.0.0, 127.0.0.1, :: or one of this host's addresses`, { cause: err });
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The peer's address of a connection being released (what the next owner reports to the app). */
function peerOf(fd: number, c: Connection): { address: string; port: number } {
  try {
    const peer = getPeerName(fd);
    return { address: peer.address, port: peer.port };
  } catch {
    return { address: c.socket.remoteAddress, port: 0 };
  }
}

/** Hands a released connection to the release callback; one that throws keeps it here. */
function passOn(cb: (c: ReleasedConnection) => void, released: ReleasedConnection, what: string): void {
  try {
    cb(released);
  } catch (err) {
    console.error(`liveframe: the release callback threw; keeping ${what} here:`, err);
    released.keep();
  }
}
