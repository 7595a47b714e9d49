// One HTTP/1.1 connection as a small state machine:
//
//   Head ──head parsed──▶ Body ──body complete──▶ Handling ──Response──▶ Writing
//    ▲                                                                        │
//    └──────────── response flushed to the kernel (keep-alive) ◀── Flushing ◀─┘
//
// `Head` with every response byte flushed is "idle at a request boundary": the only state in
// which a connection may be released to another owner (with the bytes it has read but not yet
// parsed). Any protocol error answers with its status and closes: we never guess where the next
// request starts.
//
// This file is the state machine only: data in, parse, dispatch to the app, deadlines, idle,
// release and handover. A body still arriving while the app runs is body-stream.ts's job; writing
// the response is response-writer.ts's. Both are plain functions taking the connection, so the
// fields they share with it (ConnectionCore, in connection-state.ts) are not private.
import type { Socket } from "bun";
import { ChunkedBody, FixedLengthBody, type BodyDecoder } from "./body.ts";
import { failBodyStream, feedBodyStream, startBodyStream, STREAM_BODY_BYTES } from "./body-stream.ts";
import { HttpError } from "./errors.ts";
import { MAX_UNREAD_BODY_DRAIN_BYTES } from "./limits.ts";
import { peerOf, type PeerAddress } from "./conninfo.ts";
import { checkIncompleteHead, findHeadEnd, parseHead, skipLeadingEmptyLines, type RequestHead } from "./head.ts";
import { Outbox } from "./outbox.ts";
import { abortRequest, LiveRequest } from "./request.ts";
import { handlerFailed, reject, respond } from "./response-writer.ts";
import { normalizePath } from "./url.ts";
import { Deadline, State, unreadBodyDrainable, type ConnectionCore, type ConnectionHost } from "./connection-state.ts";
import { afterApp, beforeApp, hasUpgradeField, type WebSocketConfig, type WebSocketLink } from "./ws-link.ts";

/**
 * After our FIN, how long the peer may keep its half of the connection open (we keep reading and
 * discarding meanwhile, so a response it has not read yet is not destroyed by a reset).
 */
const LINGER_MS = 5_000;
// A peer that stops reading holds our queued response bytes: no idle, keep-alive or linger clock
// runs until they reached the kernel. The wait is bounded by the request timeout
// (requestTimeoutMs, 60 s by default): a peer that takes no byte for that long is given up on.

const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";
let urlHost = "";
let urlPath = "";
let url = "";

export class Connection implements ConnectionCore {
  state = State.Head;
  /** Unconsumed input is buf[bufStart, buf.length). */
  buf: Buffer | null = null;
  bufStart = 0;
  private scanFrom = 0;
  head: RequestHead | null = null;
  /** The request being handled or answered (its signal aborts if the client leaves). */
  private request: LiveRequest | null = null;
  decoder: BodyDecoder | null = null;
  /** Set while a large body is streamed to the app as it arrives (see startBodyStream). */
  bodyCtl: ReadableStreamDefaultController<Uint8Array> | null = null;
  bodyPaused = false;
  /** While dropping an unread body (see finish): close once it has received more than this. */
  private drainUntil = 0;
  keepAlive = true;
  readonly outbox: Outbox;
  reader: { cancel(): Promise<void> } | null = null;
  private readPaused = false;
  private peerEnded = false;
  /** True while process() is on the stack: a synchronous response lets its loop continue. */
  private processing = false;
  /**
   * A handoff of this connection failed and it was kept: it is not offered again at the boundary
   * where it failed (that would loop), only after its next request.
   */
  kept = false;
  deadline = 0;
  deadlineKind = Deadline.None;
  requestDeadline = 0;
  /** The client's address, read when the connection opened (getConnInfo, requestIP). */
  readonly peer: PeerAddress | null;
  // An async handler's settlement, made once per connection rather than two closures per request
  // (they capture only the connection; respond() checks the state either way).
  private readonly settled = (res: unknown): void => respond(this, res);
  private readonly failed = (err: unknown): void => handlerFailed(this, err);
  /** Set once the connection was upgraded: from then on it carries a WebSocket (ws-link.ts), not HTTP. */
  ws: WebSocketLink | null = null;

  constructor(
    readonly server: ConnectionHost<Connection> & { readonly websocket?: WebSocketConfig },
    readonly socket: Socket<any>,
  ) {
    this.outbox = new Outbox(socket);
    this.peer = peerOf(socket);
  }

  // ---- input ------------------------------------------------------------------------------

  onData(data: Buffer): void {
    const st = this.state;
    if (st >= State.Closing) return;
    if (this.ws !== null) return this.ws.receive(data);
    this.append(data);
    if (st === State.Head || st === State.Body) {
      this.process();
      return;
    }
    if (this.bodyCtl !== null) {
      feedBodyStream(this);
      return;
    }
    // Busy or released: keep the bytes (pipelined requests), but bound how much we read ahead.
    if (st !== State.Released && this.buffered() > this.server.limits.maxPipelineBytes && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** The peer half-closed: finish what is in progress, then close; a partial request can never complete. */
  onEnd(): void {
    this.peerEnded = true;
    if (this.ws !== null) return this.ws.peerEnded();
    // A FIN while the handler runs and nothing is written yet: the client went away as far as the
    // app can tell, so request.signal aborts (as Bun.serve does). A response the handler still
    // returns is written all the same (a half-closed client may be reading it), then we close.
    if (this.state === State.Handling && this.request !== null) abortRequest(this.request);
    failBodyStream(this, new Error("the client closed the connection before the request body was complete"));
    if (this.state === State.Head || this.state === State.Body) this.close();
  }

  onClose(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.ws !== null) this.ws.transportClosed();
    if (this.request !== null) {
      abortRequest(this.request);
      this.request = null;
    }
    failBodyStream(this, new Error("the connection closed before the request body was complete"));
    if (this.reader !== null) {
      this.reader.cancel().catch(() => {});
      this.reader = null;
    }
    this.outbox.wake();
    this.server.forget(this);
  }

  buffered(): number {
    return this.buf === null ? 0 : this.buf.length - this.bufStart;
  }

  /** Copy of the bytes read but not yet consumed (handed over with the connection). */
  unconsumed(): Uint8Array {
    if (this.buf === null || this.bufStart >= this.buf.length) return new Uint8Array(0);
    return new Uint8Array(this.buf.subarray(this.bufStart)); // a copy (Buffer#slice would be a view)
  }

  private append(data: Buffer): void {
    const b = this.buf;
    if (b === null || this.bufStart >= b.length) {
      this.buf = data;
      this.scanFrom = 0;
      this.bufStart = 0;
    } else {
      this.buf = Buffer.concat([b.subarray(this.bufStart), data]);
      this.scanFrom = Math.max(0, this.scanFrom - this.bufStart);
      this.bufStart = 0;
    }
  }

  /** Parses and dispatches as many requests as the buffer holds, one at a time. */
  process(): void {
    this.processing = true;
    // Responses written meanwhile leave in one write: pipelined requests, one syscall.
    this.outbox.corking = true;
    try {
      for (;;) {
        if (this.state === State.Head) {
          if (this.server.releasing !== null && !this.kept) {
            this.outbox.flushCork();
            if (!this.outbox.pending) {
              this.server.releaseIdle(this);
              return;
            }
          }
          if (this.outbox.pending) {
            this.state = State.Flushing; // backpressure: answer no more until the kernel took it
            this.setDeadline(Deadline.Drain);
            return;
          }
          const b = this.buf;
          if (b === null || this.bufStart >= b.length) {
            this.buf = null;
            if (this.peerEnded) {
              this.close();
              return;
            }
            // Idle only once the responses (corked ones too) reached the kernel.
            this.outbox.flushCork();
            if (this.outbox.pending) {
              this.state = State.Flushing;
              this.setDeadline(Deadline.Drain);
              return;
            }
            // Empty lines before a request started its header clock: they do not make it idle again.
            if (this.deadlineKind !== Deadline.Head) this.setDeadline(Deadline.Idle);
            return;
          }
          const skipped = skipLeadingEmptyLines(b, this.bufStart, b.length);
          if (skipped !== this.bufStart) {
            // Tolerated (RFC 9112 §2.2) but counted against the headers timeout, so a trickle of
            // CRLFs cannot hold a connection open past the keep-alive timeout.
            this.bufStart = skipped;
            this.startHeadClock();
          }
          if (this.bufStart >= b.length) continue;
          const end = findHeadEnd(b, this.bufStart, this.scanFrom);
          const limits = this.server.limits;
          if (end < 0) {
            checkIncompleteHead(b, this.bufStart, b.length, limits);
            this.scanFrom = Math.max(this.bufStart, b.length - 3);
            this.startHeadClock();
            return;
          }
          const head = parseHead(b, this.bufStart, end, limits);
          this.kept = false;
          this.bufStart = end;
          this.scanFrom = end;
          this.head = head;
          this.keepAlive = head.keepAlive && !this.server.stopped;
          if (head.chunked) this.decoder = new ChunkedBody(limits.maxBodyBytes, limits.maxHeaderBytes);
          else if (head.contentLength > 0) this.decoder = new FixedLengthBody(head.contentLength);
          else this.decoder = null;
          if (this.decoder !== null) {
            if (this.requestDeadline === 0) this.requestDeadline = this.server.now + limits.requestTimeoutMs;
            // Only ask for the body if it is not already on its way (RFC 9110 §10.1.1).
            if (head.expectContinue && head.version === 11 && end >= b.length) this.outbox.write(CONTINUE, CONTINUE.length);
          }
          this.state = State.Body;
        }
        if (this.state === State.Body) {
          const d = this.decoder;
          if (d !== null) {
            const b = this.buf;
            if (this.head === null) {
              // The rest of a body its app answered without reading (see finish): dropped. A
              // malformed rest closes the connection (its answer is already sent).
              try {
                if (b !== null) this.bufStart = d.feed(b, this.bufStart, b.length);
              } catch {
                this.decoder = null;
                this.keepAlive = false;
                this.close();
                return;
              }
              if (!d.done) {
                if (d.received > this.drainUntil) {
                  this.keepAlive = false;
                  this.decoder = null;
                  this.close();
                }
                return;
              }
              this.decoder = null;
              this.deadlineKind = Deadline.None;
              this.deadline = 0;
              this.requestDeadline = 0;
              this.state = State.Head;
              continue;
            }
            if (b !== null) this.bufStart = d.feed(b, this.bufStart, b.length);
            if (!d.done) {
              this.setDeadline(Deadline.Request);
              // Large or open-ended (chunked) and still arriving: give it to the app as a stream
              // now instead of holding all of it first.
              const head = this.head!;
              if (head.chunked || head.contentLength > STREAM_BODY_BYTES) {
                this.state = State.Handling;
                this.dispatch(startBodyStream(this, d));
                return;
              }
              return;
            }
          }
          this.deadlineKind = Deadline.None;
          this.deadline = 0;
          this.requestDeadline = 0;
          this.state = State.Handling;
          this.dispatch(d === null ? null : d.body());
          if ((this.state as State) !== State.Head) return; // async handler: its promise continues
          continue;
        }
        return;
      }
    } catch (err) {
      if (err instanceof HttpError) reject(this, err.status, err.message);
      else {
        console.error("liveframe: internal error while parsing a request:", err);
        reject(this, 500, "internal error");
      }
    } finally {
      this.processing = false;
      this.outbox.corking = false;
      this.outbox.flushCork();
    }
  }

  /** A request has started arriving: the headers and request timeouts run from now. */
  private startHeadClock(): void {
    if (this.deadlineKind === Deadline.Head) return;
    this.requestDeadline = this.server.now + this.server.limits.requestTimeoutMs;
    this.setDeadline(Deadline.Head);
  }

  setDeadline(kind: Deadline): void {
    const now = this.server.now;
    const l = this.server.limits;
    this.deadlineKind = kind;
    this.deadline =
      kind === Deadline.Idle ? now + l.keepAliveTimeoutMs
      : kind === Deadline.Head ? Math.min(now + l.headersTimeoutMs, this.requestDeadline)
      : kind === Deadline.Linger ? now + LINGER_MS
      : kind === Deadline.Drain ? now + l.requestTimeoutMs
      : this.requestDeadline;
  }

  /** Called by the server's clock when `deadline` has passed. */
  expire(): void {
    if (this.deadlineKind === Deadline.Drain) {
      this.deadline = 0;
      this.deadlineKind = Deadline.None;
      if (this.outbox.flushed) return;
      // The peer took no byte for a whole request timeout: give up on what it did not read.
      this.outbox.discard();
      this.keepAlive = false;
      if (this.state === State.Closing) this.endNow();
      else this.close();
    } else if (this.state === State.Closing) {
      // The peer never closed its side after our FIN: stop waiting for it.
      this.deadline = 0;
      this.socket.terminate();
    } else if (this.state === State.Head && this.buffered() === 0 && this.outbox.flushed) {
      this.close(); // idle keep-alive timeout (or only empty lines before it): nothing to answer
    } else if (this.bodyCtl !== null) {
      failBodyStream(this, new Error("request body not received in time"));
      if (this.state === State.Handling) reject(this, 408, "request body not received in time");
      else this.close();
    } else if (this.state === State.Body && this.head === null) {
      this.close(); // an unread body being dropped stopped arriving: its answer is already sent
    } else if (this.state === State.Head || this.state === State.Body) {
      reject(this, 408, this.deadlineKind === Deadline.Head ? "header section not received in time" : "request not received in time");
    }
  }

  // ---- handling -----------------------------------------------------------------------------

  private dispatch(body: Uint8Array | ReadableStream<Uint8Array> | null): void {
    const head = this.head!;
    // Same host and path as the previous request (decoded to the same strings): same URL string.
    if (head.host !== urlHost || head.path !== urlPath) {
      // Dot segments, "%2e" and "\" resolved as the URL parser does (routes and guards see what
      // a real Request would say).
      const path = normalizePath(head.path);
      if (path === null) throw new HttpError(400, "malformed request target");
      urlHost = head.host;
      urlPath = head.path;
      url = `http://${urlHost}${path}`;
    }
    const req = (this.request = new LiveRequest(head.method, url, head, body, this.peer));
    // A WebSocket upgrade: a bad version is answered before the app; env.upgrade() may claim it.
    const upgrading = hasUpgradeField(head);
    if (upgrading && !beforeApp(this, req as unknown as Request, head)) return;
    let res: unknown;
    try {
      // The env as Bun.serve passes its server: hono/bun's getConnInfo works unchanged.
      res = this.server.app.fetch(req as unknown as Request, this.server.env);
    } catch (err) {
      handlerFailed(this, err);
      return;
    }
    if (upgrading) return afterApp(this, req as unknown as Request, head, res);
    if (res instanceof Promise || (typeof res === "object" && res !== null && typeof (res as PromiseLike<unknown>).then === "function")) {
      (res as PromiseLike<unknown>).then(this.settled, this.failed);
      return;
    }
    respond(this, res);
  }

  /** The response is complete: next request, or close. */
  finish(): void {
    this.server.completedCount++;
    let drain = false;
    if (this.bodyCtl !== null) {
      // Answered before the whole body arrived: the app's stream ends with an error, and the
      // rest of the body is read and dropped (bounded) so the next request can follow, as on
      // Bun.serve; a body with more than MAX_UNREAD_BODY_DRAIN_BYTES still to come closes.
      failBodyStream(this, new Error("the response was sent before the request body was read"));
      const d = this.decoder!;
      if (this.keepAlive && unreadBodyDrainable(this)) {
        drain = true;
        d.sink = () => {};
        this.drainUntil = d.received + MAX_UNREAD_BODY_DRAIN_BYTES;
      } else this.keepAlive = false;
    }
    this.request = null;
    this.head = null;
    if (!drain) this.decoder = null;
    if (drain && this.keepAlive) {
      this.state = State.Body;
      this.setDeadline(Deadline.Request);
      if (this.bodyPaused) {
        this.bodyPaused = false;
        this.socket.resume();
      }
      if (this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
      if (!this.processing) this.process();
      return;
    }
    if (!this.keepAlive) {
      this.close();
      return;
    }
    if (this.outbox.pending) {
      this.state = State.Flushing; // continue on drain: not idle until the kernel has it all
      this.setDeadline(Deadline.Drain);
      return;
    }
    this.backToHead();
  }

  private backToHead(): void {
    this.state = State.Head;
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    // When called from process() (synchronous response), its loop continues; otherwise run it.
    if (!this.processing) this.process();
  }

  // ---- output -------------------------------------------------------------------------------

  onDrain(): void {
    if (this.ws !== null && this.state < State.Closing) return this.ws.drained();
    if (!this.outbox.drain()) return;
    // Flushed: a connection that was waiting on the kernel is idle now (and releasable).
    if (this.state === State.Flushing || this.state === State.Head) this.backToHead();
    else if (this.state === State.Closing) this.endNow();
  }

  /** Closes after every queued byte is written (FIN, never RST). */
  close(): void {
    if (this.state >= State.Closing) return;
    this.outbox.flushCork();
    this.state = State.Closing;
    if (this.reader !== null) {
      this.reader.cancel().catch(() => {});
      this.reader = null;
    }
    // FIN only after the last queued byte (onDrain ends it); the linger clock starts then.
    if (this.outbox.pending) this.setDeadline(Deadline.Drain);
    else this.endNow();
  }

  private endNow(): void {
    this.setDeadline(Deadline.Linger);
    this.socket.end();
  }

  /** Graceful stop: close now if idle, else after the response in progress. */
  closeWhenIdle(): void {
    if (this.state === State.Released || this.state >= State.Closing) return;
    if (this.ws !== null) return this.ws.closeGoingAway();
    this.keepAlive = false;
    if (this.isIdle) this.close();
  }

  /** Drain limit reached: cut now, whatever is pending. */
  cut(): void {
    if (this.state === State.Closed) return;
    if (this.ws !== null && this.state < State.Closing) return this.ws.terminate();
    this.outbox.discard();
    if (this.state !== State.Closing) this.close();
    else this.socket.end();
  }

  // ---- WebSocket (ws-link.ts) --------------------------------------------------------------

  /** The request was upgraded: HTTP parsing and its timers stop for good; returns the bytes read past the request. */
  becomeWebSocket(): Uint8Array {
    const rest = this.unconsumed();
    this.buf = null;
    this.bufStart = 0;
    this.state = State.Writing; // neither idle nor releasable as an HTTP connection: busy until it closes
    this.request = null;
    this.head = null;
    this.decoder = null;
    this.keepAlive = false;
    this.deadline = 0;
    this.deadlineKind = Deadline.None;
    this.requestDeadline = 0;
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    return rest;
  }

  // ---- release (handoff) --------------------------------------------------------------------

  get isIdle(): boolean {
    return this.state === State.Head && this.outbox.flushed;
  }

  /** Stop reading: from now on this process reads nothing from the kernel for this socket. */
  pauseForRelease(): void {
    this.state = State.Released;
    this.deadline = 0;
    this.deadlineKind = Deadline.None;
    this.socket.pause();
  }

  /** Handing over failed: serve it here again (offered again only after its next request). */
  resumeAfterRelease(): void {
    if (this.state !== State.Released) return;
    this.kept = true;
    this.state = State.Head;
    this.readPaused = false;
    this.socket.resume();
    this.process();
  }

  /** The new owner has it: let go of this process's reference without FIN or RST. */
  dropAfterHandover(): void {
    this.state = State.Closed;
    this.buf = null;
    // A paused socket with nothing queued: close(2) of our descriptor only; the connection lives
    // on in the adopter's descriptor (feasibility.md: never terminate(), which sets SO_LINGER 0).
    this.socket.end();
    this.server.forget(this);
  }
}
