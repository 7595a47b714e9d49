// One WebSocket connection after the handshake, independent of sockets and timers: bytes in
// (receive), events out (SessionHandler), frames out through an injected transport with Bun's
// write semantics, time through an injected clock. The engine owns the socket and calls
// receive / drain / transportClosed; an app (through upgrade.ts) calls send / close.
//
// Behaviour follows Bun.serve's ServerWebSocket where an app or client can see it:
// - send() returns bytes written, -1 when queued behind backpressure, 0 when dropped (closed,
//   or over maxBufferedBytes);
// - a ping is answered with a pong carrying its payload; the client's close frame is answered
//   with the same code and reason (empty when it had none; reported as 1005);
// - close() reports onClose at once with the app's code (readyState is 3 from then on), sends
//   the close frame and ends TCP when the client's close frame arrives or closeTimeoutMs passes;
//   it never throws (a code not allowed on the wire is sent as a close without a code);
// - a protocol violation sends a close frame with the RFC's code (1002/1007/1009) and ends TCP;
//   the app sees onClose(1006, why); a TCP close without a close frame is onClose(1006, "").
//
// Moving (issue 11): prepareToMove() makes parsing stop at the next message boundary and keeps
// later bytes unparsed; once `movable` (boundary reached, outgoing queue flushed, no close under
// way) snapshot() returns what the next generation needs to restore it, and handedOver() detaches
// it once the new owner has it (cancelMove() instead when the handoff failed).
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_HELD_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_PONG_TIMEOUT_MS,
} from "./limits.ts";
import { FrameParser, type FrameHandler } from "./frame-parser.ts";
import { encodeBinary, encodeClose, encodeFrame, encodePing, encodePong, encodeText, truncateUtf8 } from "./frame-encoder.ts";
import { compressMessage, deflateNegotiated } from "./deflate.ts";
import { CloseCode, MAX_CLOSE_REASON_BYTES, OP_BINARY, OP_TEXT, WsProtocolError, isValidWireCloseCode } from "./protocol.ts";
import { MOVED_WEBSOCKET_VERSION, type MovedWebSocket } from "./moved.ts";

/** The socket, as the session needs it (a Bun Socket fits). */
export interface WsTransport {
  /** Bun's socket.write: how many bytes the kernel took (the rest is the session's to retry on drain), -1 if closed. */
  write(bytes: Uint8Array): number;
  /** Ends the TCP connection (FIN). Called once, after every queued byte was written. */
  end(): void;
}

/** Time, injected so tests drive the idle and close timeouts without waiting. */
export interface WsClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: WsClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SessionHandler {
  /** A complete message: string for text, Buffer for binary. */
  onMessage(data: string | Buffer): void;
  onPing?(payload: Buffer): void;
  onPong?(payload: Buffer): void;
  /** Exactly once per session (never for a session that moved away). */
  onClose(code: number, reason: string): void;
  /** The outgoing queue emptied after a send returned -1 (Bun's `drain`). */
  onDrain?(): void;
  /** A handler above threw: the session was failed with 1011. Default: logged to stderr. */
  onError?(error: unknown): void;
}

export interface SessionOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  idleTimeoutMs: number;
  pongTimeoutMs: number;
  closeTimeoutMs: number;
  /** Ping an idle client (true) or close it at once (false), as Bun.serve's `sendPings`. */
  sendPings: boolean;
  maxHeldBytes: number;
}

export const defaultSessionOptions: SessionOptions = {
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  pongTimeoutMs: DEFAULT_PONG_TIMEOUT_MS,
  closeTimeoutMs: DEFAULT_CLOSE_TIMEOUT_MS,
  sendPings: true,
  maxHeldBytes: DEFAULT_MAX_HELD_BYTES,
};

/** What the session was opened with; what moves with it. */
export interface UpgradeInfo {
  url: string;
  headers: [string, string][];
  protocol: string;
  extensions: string;
}

/** WebSocket readyState values (WHATWG). */
export const ReadyState = { connecting: 0, open: 1, closing: 2, closed: 3 } as const;

const enum Phase {
  Open,
  /** We sent a close frame and wait for the client's (or the close timeout). */
  CloseSent,
  /** Done: TCP ended or ending. */
  Ended,
  /** Detached by handedOver(): the next generation owns the connection. */
  Moved,
}

export class WebSocketSession {
  private phase = Phase.Open;
  private readonly parser: FrameParser;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private endWhenFlushed = false;
  private closeReported = false;
  private backpressured = false;

  private timer: unknown = null;
  private lastReceived: number;
  /** When the idle ping was sent, -1 when none is outstanding. */
  private pingSentAt = -1;

  /** permessage-deflate without context takeover was negotiated (info.extensions). */
  private readonly deflate: boolean;
  private moving = false;
  private onMovable: (() => void) | null = null;
  private pins = 0;
  /** heldLen when snapshot() was taken; -1 when none is outstanding. */
  private snapshotHeld = -1;
  private held: Uint8Array[] = [];
  private heldLen = 0;

  constructor(
    private readonly transport: WsTransport,
    private readonly handler: SessionHandler,
    readonly info: UpgradeInfo,
    private readonly options: SessionOptions = defaultSessionOptions,
    private readonly clock: WsClock = systemClock,
  ) {
    const self = this;
    const frames: FrameHandler = {
      onText: (t) => self.deliver(t),
      onBinary: (b) => self.deliver(b),
      onPing: (p) => self.onPing(p),
      onPong: (p) => self.guard(() => self.handler.onPong?.(p)),
      onClose: (code, reason) => self.onPeerClose(code, reason),
    };
    this.deflate = deflateNegotiated(info.extensions);
    this.parser = new FrameParser(frames, { maxMessageBytes: options.maxMessageBytes, deflate: this.deflate });
    this.lastReceived = clock.now();
    this.arm(options.idleTimeoutMs);
  }

  /** Restores a session moved from another generation; call resume() once the app's handler is attached. */
  static restore(moved: MovedWebSocket, transport: WsTransport, handler: SessionHandler, options?: SessionOptions, clock?: WsClock): WebSocketSession {
    const s = new WebSocketSession(transport, handler, { url: moved.url, headers: moved.headers, protocol: moved.protocol, extensions: moved.extensions }, options, clock);
    const held = Buffer.from(moved.held, "base64");
    s.moving = true; // at a boundary already: nothing is parsed until resume()
    s.parser.stopAtBoundary = true;
    if (held.length > 0) s.hold(held);
    return s;
  }

  /** 1 while open; 3 once a close started (Bun reports 3 right after close()). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.phase === Phase.Open && !this.closeReported ? ReadyState.open : ReadyState.closed;
  }

  /** Bytes queued for the client that the kernel has not taken yet. */
  get bufferedAmount(): number {
    return this.queued;
  }

  // ---- engine side -------------------------------------------------------------------------

  /** Bytes from the socket. */
  receive(chunk: Uint8Array): void {
    if (this.phase === Phase.Ended || this.phase === Phase.Moved) return;
    this.lastReceived = this.clock.now();
    if (this.heldLen > 0) {
      // Bytes are waiting (a move is being prepared, or was cancelled mid-drain): keep order.
      this.hold(chunk);
      if (!this.moving) this.parseHeld();
      return;
    }
    // While moving, the parser stops at the next message boundary and parse() holds the rest.
    this.parse(chunk);
    if (this.moving) this.checkMovable();
  }

  /** The socket's drain event: writes what is queued. */
  drain(): void {
    const q = this.queue;
    while (q.length > 0) {
      const chunk = q[0]!;
      const n = this.transport.write(chunk);
      if (n < 0) return;
      this.queued -= Math.min(n, chunk.byteLength);
      if (n < chunk.byteLength) {
        q[0] = chunk.subarray(n);
        return;
      }
      q.shift();
    }
    if (this.endWhenFlushed) return this.endNow();
    if (this.backpressured && this.phase === Phase.Open) {
      this.backpressured = false;
      this.guard(() => this.handler.onDrain?.());
    }
    if (this.moving) this.checkMovable();
  }

  /** The socket closed (by the client, or after end()). */
  transportClosed(): void {
    if (this.phase === Phase.Moved) return;
    this.phase = Phase.Ended;
    this.clearTimer();
    this.queue.length = 0;
    this.queued = 0;
    this.reportClose(CloseCode.abnormal, "");
  }

  /** Bytes read but held unparsed (while moving). */
  get heldBytes(): number {
    return this.heldLen;
  }

  /** Bytes held while moving must not grow past this: the engine stops reading from the socket. */
  get wantsInput(): boolean {
    return this.heldLen < this.options.maxHeldBytes;
  }

  // ---- app side ----------------------------------------------------------------------------

  /**
   * Sends a text (string) or binary message. Returns bytes written, -1 when queued, 0 when
   * dropped. `compress: true` compresses it when permessage-deflate was negotiated; otherwise
   * it leaves uncompressed. Bun does the same (it compresses only when asked, even when enabled).
   */
  send(data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    if (this.phase !== Phase.Open || this.closeReported) return 0;
    let frame: Buffer;
    if (this.deflate && compress === true) {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : toBytes(data);
      frame = encodeFrame(typeof data === "string" ? OP_TEXT : OP_BINARY, compressMessage(bytes), true, true);
    } else frame = typeof data === "string" ? encodeText(data) : encodeBinary(toBytes(data));
    if (this.queue.length > 0 && this.queued + frame.byteLength > this.options.maxBufferedBytes) return 0;
    return this.write(frame);
  }

  ping(data: string | Uint8Array = ""): number {
    if (this.phase !== Phase.Open || this.closeReported) return 0;
    return this.write(encodePing(data));
  }

  pong(data: string | Uint8Array = ""): number {
    if (this.phase !== Phase.Open || this.closeReported) return 0;
    return this.write(encodePong(data));
  }

  /**
   * Starts the close handshake: sends a close frame (1000 when no code is given, as Bun does),
   * reports onClose(code, reason) now, and ends TCP once the client answers or after
   * closeTimeoutMs. Like Bun it never throws: the reason is cut to the 123 bytes a close frame
   * holds (at a character boundary, and reported cut), and a code that may not appear on the
   * wire (RFC 6455 §7.4: 1005, 1006, 0–999, 1016–2999, 5000+) is reported to the app as given
   * but sent as a close frame without a code, so the client sees 1005 rather than failing the
   * connection on an invalid code (Bun sends 999 or 2000 as they are).
   */
  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.phase !== Phase.Open || this.closeReported) return;
    const cut = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES).toString("utf8");
    this.parser.halt();
    this.write(isValidWireCloseCode(code) ? encodeClose(code, cut) : encodeClose());
    this.phase = Phase.CloseSent;
    this.arm(this.options.closeTimeoutMs);
    this.reportClose(code, cut);
  }

  /** Ends TCP now without a close handshake (Bun's ws.terminate()). */
  terminate(): void {
    if (this.phase === Phase.Ended || this.phase === Phase.Moved) return;
    this.queue.length = 0;
    this.queued = 0;
    this.endNow();
    this.reportClose(CloseCode.abnormal, "");
  }

  // ---- moving to the next generation ------------------------------------------------------

  /**
   * From now on parsing stops at the next message boundary and later bytes are held unparsed.
   * `onMovable` is called once, as soon as `movable` holds (at once if it already does).
   */
  prepareToMove(onMovable?: () => void): void {
    this.moving = true;
    this.parser.stopAtBoundary = true;
    this.onMovable = onMovable ?? null;
    this.checkMovable();
  }

  /** The move was called off (or the handoff failed): parse what was held and carry on. */
  cancelMove(): void {
    if (this.phase === Phase.Moved) return;
    this.snapshotHeld = -1;
    this.moving = false;
    this.onMovable = null;
    this.parser.stopAtBoundary = false;
    this.parseHeld();
  }

  /**
   * Keeps the session from becoming movable until unpin(): for work of the old code that will
   * still write to this connection (an async message handler: its reply must not be lost).
   */
  pin(): void {
    this.pins++;
  }

  unpin(): void {
    if (this.pins > 0) this.pins--;
    if (this.moving) this.checkMovable();
  }

  /**
   * Can move now: open, prepareToMove() was called, no partial frame or fragmented message read,
   * every outgoing byte taken by the kernel (no partial frame written either), nothing pinned.
   */
  get movable(): boolean {
    return this.moving && this.phase === Phase.Open && !this.closeReported && this.parser.atMessageBoundary && this.queue.length === 0 && this.pins === 0;
  }

  private checkMovable(): void {
    const cb = this.onMovable;
    if (cb !== null && this.movable) {
      this.onMovable = null;
      cb();
    }
  }

  /**
   * What the next generation restores this WebSocket from (`attached`: the app's JSON value).
   * Nothing changes yet: the session stays paused at its boundary until handedOver() (the new
   * owner adopted it) or cancelMove() (the handoff failed: carry on here). Pause reading from
   * the socket first: bytes that arrive after the snapshot are not in it (`snapshotStale`; take
   * a new one).
   */
  snapshot(attached: MovedWebSocket["attached"] = null): MovedWebSocket {
    if (!this.movable) throw new Error("WebSocket is not at a movable point (call prepareToMove() and wait for `movable`): moving it now would cut a frame");
    const held = Buffer.concat(this.held.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)), this.heldLen);
    this.snapshotHeld = this.heldLen;
    return { v: MOVED_WEBSOCKET_VERSION, url: this.info.url, headers: this.info.headers, protocol: this.info.protocol, extensions: this.info.extensions, held: held.toString("base64"), attached };
  }

  /** Bytes arrived after the last snapshot(): it would lose them. */
  get snapshotStale(): boolean {
    return this.snapshotHeld >= 0 && this.heldLen !== this.snapshotHeld;
  }

  /**
   * The next generation adopted it: detach (no more writes, timers or events; onClose is never
   * called; the socket is the new owner's, so it is neither ended nor written to).
   */
  handedOver(): void {
    if (this.snapshotHeld < 0) throw new Error("handedOver() before snapshot(): the new generation has nothing to restore from");
    if (this.snapshotStale) throw new Error("bytes arrived after the snapshot: take a new snapshot() (pause reading first) before handing over");
    this.phase = Phase.Moved;
    this.clearTimer();
    this.held = [];
    this.heldLen = 0;
    this.onMovable = null;
  }

  /** After restore(): parse the held bytes and whatever arrives next. */
  resume(): void {
    this.cancelMove();
  }

  /** The connection cannot move in time: close it with 1012 so the client reconnects. */
  closeForRestart(): void {
    this.moving = false;
    this.snapshotHeld = -1;
    this.parser.stopAtBoundary = false;
    this.held = [];
    this.heldLen = 0;
    this.close(CloseCode.serviceRestart, "service restart");
  }

  // ---- internals -----------------------------------------------------------------------------

  private parse(chunk: Uint8Array): void {
    let consumed: number;
    try {
      consumed = this.parser.push(chunk);
    } catch (e) {
      if (e instanceof WsProtocolError) return this.fail(e.closeCode, e.message);
      throw e;
    }
    if (consumed < chunk.length && this.moving && this.phase === Phase.Open) this.hold(chunk.subarray(consumed));
  }

  private parseHeld(): void {
    while (this.heldLen > 0 && !this.moving && this.phase !== Phase.Ended && this.phase !== Phase.Moved) {
      const chunk = this.held.shift()!;
      this.heldLen -= chunk.byteLength;
      this.parse(chunk);
    }
  }

  private hold(chunk: Uint8Array): void {
    this.held.push(chunk);
    this.heldLen += chunk.byteLength;
  }

  private deliver(data: string | Buffer): void {
    if (this.phase !== Phase.Open || this.closeReported) return; // after our close frame: dropped
    this.guard(() => this.handler.onMessage(data));
  }

  private onPing(payload: Buffer): void {
    if (this.phase !== Phase.Open || this.closeReported) return;
    this.write(encodePong(payload));
    this.guard(() => this.handler.onPing?.(payload));
  }

  private onPeerClose(code: number, reason: string): void {
    if (this.phase === Phase.Open && !this.closeReported) {
      // Echo the client's status (RFC 6455 §5.5.1); none for none.
      this.write(code === CloseCode.noStatus ? encodeClose() : encodeClose(code, reason));
      this.reportClose(code, reason);
    }
    this.endAfterFlush();
  }

  /** Fail the WebSocket connection (RFC 6455 §7.1.7): close frame with the code, then end TCP. */
  private fail(code: number, why: string): void {
    if (this.phase === Phase.Ended || this.phase === Phase.Moved) return;
    if (this.phase === Phase.Open && !this.closeReported) this.write(encodeClose(code, why));
    this.reportClose(CloseCode.abnormal, why);
    this.endAfterFlush();
  }

  private write(frame: Uint8Array): number {
    if (this.queue.length > 0) return this.enqueue(frame);
    const n = this.transport.write(frame);
    if (n < 0) return 0;
    if (n >= frame.byteLength) return n;
    return this.enqueue(frame.subarray(n));
  }

  private enqueue(bytes: Uint8Array): number {
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    this.backpressured = true;
    return -1;
  }

  private endAfterFlush(): void {
    this.phase = this.phase === Phase.Moved ? Phase.Moved : Phase.CloseSent;
    this.parser.halt();
    this.arm(this.options.closeTimeoutMs);
    if (this.queue.length === 0) this.endNow();
    else this.endWhenFlushed = true;
  }

  private endNow(): void {
    if (this.phase === Phase.Ended) return;
    this.phase = Phase.Ended;
    this.clearTimer();
    this.transport.end();
  }

  private reportClose(code: number, reason: string): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.guard(() => this.handler.onClose(code, reason));
  }

  /**
   * A throwing handler must neither corrupt the parser mid-chunk nor take the process down: the
   * connection fails with 1011 and the error goes to onError (upgrade.ts catches app errors
   * before this, as hono/bun does; this is the last line).
   */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!this.closeReported) this.fail(CloseCode.internalError, "internal error");
      try {
        if (this.handler.onError) this.handler.onError(e);
        else console.error("liveframe: a WebSocket handler threw; the connection was closed with 1011:", e);
      } catch (e2) {
        console.error("liveframe: a WebSocket onError handler threw:", e2);
      }
    }
  }

  private arm(ms: number): void {
    this.clearTimer();
    this.timer = this.clock.setTimeout(() => this.onTimer(), ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private onTimer(): void {
    this.timer = null;
    if (this.phase === Phase.Ended || this.phase === Phase.Moved) return;
    if (this.phase === Phase.CloseSent) {
      // The client never answered our close frame (or never read it): give up on it.
      this.queue.length = 0;
      this.queued = 0;
      return this.endNow();
    }
    const now = this.clock.now();
    if (this.pingSentAt >= 0) {
      if (this.lastReceived > this.pingSentAt) this.pingSentAt = -1;
      else {
        const waited = now - this.pingSentAt;
        if (waited < this.options.pongTimeoutMs) return this.arm(this.options.pongTimeoutMs - waited);
        return this.fail(CloseCode.goingAway, `idle timeout: no reply to a ping within ${this.options.pongTimeoutMs} ms`);
      }
    }
    const idle = now - this.lastReceived;
    if (idle < this.options.idleTimeoutMs) return this.arm(this.options.idleTimeoutMs - idle);
    if (!this.options.sendPings) return this.fail(CloseCode.goingAway, `idle timeout: nothing received for ${this.options.idleTimeoutMs} ms`);
    this.pingSentAt = now;
    this.write(encodePing());
    this.arm(this.options.pongTimeoutMs);
  }
}

function toBytes(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
