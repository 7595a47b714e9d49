// The engine's public contract (see /work/brief.md "Engine"). The handoff layer builds on it.
import type { MovedWebSocket } from "../ws/moved.ts";

/** Anything with a WHATWG fetch handler: a Hono app, or `{ fetch(req) { … } }`. */
export interface FetchApp {
  fetch(request: Request, ...rest: any[]): Response | Promise<Response>;
}

export interface ConnectionCounts {
  /** Connections this process still holds (idle + busy + releasing). */
  open: number;
  /** Idle at a request boundary with every response byte flushed to the kernel. */
  idle: number;
  /** Reading a request, running the handler, or writing a response. */
  busy: number;
  /** Total handed over to another owner (handedOver() called) since this server was created. */
  released: number;
  /** Extension: paused and passed to onReleasable, waiting for handedOver() or keep(). */
  releasing: number;
  /** Extension: responses completed since the server was created (a drain counts its completed requests by it). */
  completed: number;
}

export interface ReleasedConnection {
  /** The kernel fd of the connection (still owned by this process until handedOver()). */
  readonly fd: number;
  /** Bytes read from the socket but not yet consumed (pipelined or partial next request). Read it when sending. */
  readonly buffered: Uint8Array;
  readonly remote: { address: string; port: number };
  /**
   * Extension: true once the underlying connection has closed (the client reset it while it
   * was paused, say; Bun still reports that, and closes the fd). Its fd number may already
   * belong to something else: never send it; there is nothing left to hand over.
   */
  readonly closed: boolean;
  /**
   * Extension: set when the connection is a WebSocket paused at a message boundary (issue 11):
   * the record its new owner restores it from (held bytes included; `buffered` is then empty).
   * Read it when sending.
   */
  readonly websocket?: MovedWebSocket;
  /** The new owner has adopted it: drop this process's copy WITHOUT FIN or RST. */
  handedOver(): void;
  /** Handing over failed: resume serving it here. While releasing, it is offered again after its next request (not at once: that would loop). */
  keep(): void;
}

export interface HttpServer {
  /** First listener's port (0 if none yet). */
  readonly port: number;
  /** Serve on a listening fd (Bun.listen({fd})); may be called more than once. */
  listen(fd: number): void;
  /** Create a listener (SO_REUSEADDR; "::" is dual stack) and serve on it; returns its fd. */
  listenOn(o: { port: number; hostname: string; backlog?: number }): number;
  /** fds this process currently accepts on. */
  readonly listenerFds: number[];
  /** Stop every listener of this server (closes this process's listener fds only). */
  stopAccepting(): void;
  /** Extension: stop accepting for now; listeners stay open, so the kernel queues new connections. */
  pauseAccepting(): void;
  /** Extension: undo pauseAccepting() (accepting stays paused while the fd limit is near). */
  resumeAccepting(): void;
  /** Extension: Bun accepts on at least one listener now. */
  readonly accepting: boolean;
  /**
   * Extension: hold `n` fds free for connections a handover will bring (each adopt() uses one;
   * 0 ends it; `lapses`: ends by itself if no handover claims it soon).
   */
  reserveForAdoption(n: number, opts?: { lapses?: boolean }): void;
  /** Extension: how many connections adopt() can take now before this process nears its fd limit. */
  adoptCapacity(): number;
  /** Extension: this process's fd limit (RLIMIT_NOFILE). */
  readonly fdLimit: number;
  /**
   * Serve an already-connected TCP fd; `buffered` (bytes read by the previous owner) is parsed
   * first. With `websocket`, the fd is a WebSocket that moved (issue 11): its upgrade request
   * goes through this server's app, whose handler takes it over (onOpen with moved = true).
   */
  adopt(fd: number, buffered?: Uint8Array, websocket?: MovedWebSocket): void;
  /**
   * From now on every connection that is (or becomes) idle at a request boundary, with its
   * response fully flushed to the kernel, is paused and passed to onReleasable exactly once.
   * Busy connections finish their current request first.
   */
  release(onReleasable: (c: ReleasedConnection) => void): void;
  readonly counts: ConnectionCounts;
  /** Drain limit reached: close whatever is still busy; returns how many were cut. */
  closeBusy(): number;
  /** Extension: end release(): connections are served here again, and a later release() offers every idle one. */
  stopReleasing(): void;
  /** Stop accepting, finish in-flight requests (graceful, default) up to timeoutMs, close idle connections. */
  stop(opts?: { graceful?: boolean; timeoutMs?: number }): Promise<void>;
}
