// WebSockets on an engine connection (issue 11): the contract in src/ws/upgrade.ts's header,
// fulfilled for connection.ts. Three moments:
//   1. before the app (`beforeApp`): a request with an Upgrade field is checked; a wrong
//      Sec-WebSocket-Version is answered 426 and closed, as Bun.serve does, and the app never
//      runs; an acceptable upgrade gets a slot that `env.upgrade(request, …)` may claim;
//   2. the app calls `env.upgrade(request, { data, headers })` (`upgradeRequest`): true for the
//      request being served, once; the 101 is prepared (a bad header or subprotocol throws now,
//      in the app's code, as Bun's upgrade throws);
//   3. after the handler settles (`afterApp`): if it upgraded, the app's Response is ignored,
//      the 101 written after what earlier responses queued, HTTP parsing and timers stop for good
//      and a WebSocketSession owns the socket (`WebSocketLink`); else the Response is written.
// A reload moves each WebSocket at a message boundary (WebSocketLink.prepareToMove, then
// ServerCore.releaseWebSocket hands it over with its MovedWebSocket record); the new generation
// adopts it with `adoptWebSocket`: the upgrade request goes through the NEW app, whose
// env.upgrade() claims it without a 101, and its onOpen sees moved = true. One that cannot
// move before the drain deadline is closed with 1012 (service restart).
import { acceptResponse, checkUpgrade, selectProtocol, type UpgradeCheck } from "../ws/handshake.ts";
import { negotiateDeflate } from "../ws/deflate.ts";
import { parseWebSocketOptions, type WebSocketOptions } from "../ws/limits.ts";
import { WebSocketSession, type SessionOptions } from "../ws/session.ts";
import type { MovedWebSocket } from "../ws/moved.ts";
import type { FetchApp } from "./types.ts";
import { LiveServerWebSocket } from "../ws/server-websocket.ts";
import type { Topics } from "../ws/topics.ts";
import { websocket as honoHandlers, type WebSocketHandlers } from "../ws/upgrade.ts";
import { CloseCode } from "../ws/protocol.ts";
import { State, type ConnectionCore } from "./connection-state.ts";
import type { PeerAddress } from "./conninfo.ts";
import type { RequestHead } from "./head.ts";
import { dateLine } from "./response-head.ts";
import { handlerFailed, respond } from "./response-writer.ts";

/** Bun.serve's `websocket` option, liveframe's knobs: handlers (open/message/close/drain) plus WebSocketOptions. */
export type WebSocketServeOptions = Partial<WebSocketHandlers<any>> & WebSocketOptions;

/** What a server runs its WebSockets with. */
export interface WebSocketConfig {
  handlers: WebSocketHandlers<any>;
  session: SessionOptions;
  perMessageDeflate: boolean;
}

const HANDLER_NAMES = ["open", "message", "close", "drain"] as const;

/**
 * The server's WebSocket handlers: `websocket` from serve()'s options, else the app's own
 * `websocket` export (Bun's `export default { fetch, websocket }`), else the handlers of
 * liveframe's upgradeWebSocket. So a Hono app using upgradeWebSocket needs nothing extra.
 */
export function webSocketConfig(app: object, given: unknown): WebSocketConfig {
  const source = given ?? (app as { websocket?: unknown }).websocket;
  if (source === undefined || source === null) return { handlers: honoHandlers, session: parseWebSocketOptions({}), perMessageDeflate: false };
  if (typeof source !== "object") throw new TypeError("liveframe: the websocket option must be an object ({ open, message, close, drain, ...options })");
  const rest: Record<string, unknown> = { ...(source as Record<string, unknown>) };
  const fns: Partial<WebSocketHandlers<any>> = {};
  for (const name of HANDLER_NAMES) {
    const f = rest[name];
    delete rest[name];
    if (f === undefined) continue;
    if (typeof f !== "function") throw new TypeError(`liveframe: websocket.${name} must be a function`);
    (fns as Record<string, unknown>)[name] = f;
  }
  const { perMessageDeflate, ...session } = parseWebSocketOptions(rest, "websocket options");
  const handlers: WebSocketHandlers<any> =
    fns.message === undefined && fns.open === undefined && fns.close === undefined
      ? honoHandlers // options only: upgradeWebSocket's handlers
      : { open: fns.open ?? (() => {}), message: fns.message ?? (() => {}), close: fns.close ?? (() => {}), drain: fns.drain };
  return { handlers, session, perMessageDeflate };
}

/** The connection as this module needs it (connection.ts implements it). */
export interface UpgradableConnection extends ConnectionCore {
  readonly server: { readonly websocket?: WebSocketConfig; readonly releasing: unknown; readonly topics?: Topics; moveWebSocket?(c: UpgradableConnection): void };
  readonly peer: PeerAddress | null;
  ws: WebSocketLink | null;
  /** HTTP is over on this connection: stop its parsing and timers; returns the bytes read past the request. */
  becomeWebSocket(): Uint8Array;
}

/** An upgrade the app may claim with env.upgrade(request) while its handler runs. */
interface UpgradeSlot {
  check: Extract<UpgradeCheck, { kind: "accept" }>;
  /** Set by env.upgrade(): the app's data and the 101 head to write. */
  claimed: { data: unknown; head: string; protocol: string; extensions: string } | null;
  config: WebSocketConfig;
  /** A WebSocket that moved here: claimed without a 101, with what was negotiated before. */
  moved?: MovedWebSocket;
}

const slots = new WeakMap<object, UpgradeSlot>();

/** Whether the head has an Upgrade field (name compared without allocating). */
export function hasUpgradeField(head: RequestHead): boolean {
  const o = head.fieldOffsets;
  const b = head.buf;
  for (let i = 0; i < o.length; i += 4) {
    const s = o[i]!;
    if (o[i + 1]! - s === 7 && (b[s]! | 0x20) === 0x75 /* u */ && b.toString("latin1", s, s + 7).toLowerCase() === "upgrade") return true;
  }
  return false;
}

/**
 * Before the app runs, for a request with an Upgrade field. Returns false when the engine
 * answered it itself (426, closed); otherwise the app runs and may upgrade it.
 */
export function beforeApp(conn: UpgradableConnection, req: Request, head: RequestHead): boolean {
  const check = checkUpgrade({ method: head.method, headers: req.headers }, head.version);
  if (check.kind === "reject" && check.status === 426) {
    // Bun answers an unsupported version before the app: so does the engine.
    let text = "HTTP/1.1 426 Upgrade Required\r\n";
    for (const [name, value] of Object.entries(check.headers)) text += `${name}: ${value}\r\n`;
    text += `Connection: close\r\n${dateLine()}Content-Length: 0\r\n\r\n`;
    conn.state = State.Writing;
    conn.keepAlive = false;
    conn.outbox.write(text, text.length);
    conn.finish();
    return false;
  }
  if (check.kind === "accept") slots.set(req, { check, claimed: null, config: conn.server.websocket ?? defaultConfig() });
  return true;
}

let fallback: WebSocketConfig | null = null;
function defaultConfig(): WebSocketConfig {
  return (fallback ??= webSocketConfig({}, undefined));
}

/** `env.upgrade(request, { data, headers })`, as Bun's server.upgrade. */
export function upgradeRequest(request: Request, options?: { data?: unknown; headers?: Record<string, string> | Headers }): boolean {
  const slot = slots.get(request);
  if (slot === undefined || slot.claimed !== null) return false;
  if (options !== undefined && (options === null || typeof options !== "object")) throw new TypeError("server.upgrade(request, options): options must be an object { data, headers }");
  if (slot.moved !== undefined) {
    // Already open on the client's side: nothing is written; what was negotiated stays.
    slot.claimed = { data: options?.data, head: "", protocol: slot.moved.protocol, extensions: slot.moved.extensions };
    return true;
  }
  const headers = options?.headers;
  const chosen = headers instanceof Headers ? headers.get("sec-websocket-protocol") : headers?.["Sec-WebSocket-Protocol"] ?? headers?.["sec-websocket-protocol"];
  // Both throw with what is wrong (a subprotocol not offered, a header with CR/LF): in the app's code, as Bun's upgrade.
  const protocol = selectProtocol(slot.check.offeredProtocols, chosen ?? undefined);
  const extensions = slot.config.perMessageDeflate ? negotiateDeflate(slot.check.offeredExtensions) : "";
  const date = dateLine().slice(6, -2);
  const head = acceptResponse({ accept: slot.check.accept, protocol, extensions, headers, date });
  slot.claimed = { data: options?.data, head, protocol, extensions };
  return true;
}

/** The app's handler returned (`res`, maybe a promise): open the WebSocket if it upgraded, else answer. */
export function afterApp(conn: UpgradableConnection, req: Request, head: RequestHead, res: unknown): void {
  const settle = (r: unknown) => {
    const slot = slots.get(req);
    slots.delete(req);
    if (slot?.claimed == null) return respond(conn, r);
    if (conn.state !== State.Handling) return; // the client left while the app ran
    open(conn, slot, head);
  };
  if (res instanceof Promise || (typeof res === "object" && res !== null && typeof (res as PromiseLike<unknown>).then === "function")) {
    (res as PromiseLike<unknown>).then(settle, (err) => {
      slots.delete(req);
      handlerFailed(conn, err);
    });
    return;
  }
  settle(res);
}

function open(conn: UpgradableConnection, slot: UpgradeSlot, head: RequestHead): void {
  const claimed = slot.claimed!;
  const config = slot.config;
  conn.outbox.write(claimed.head, claimed.head.length);
  // Now, not at the end of the batch: the session writes to the socket itself, after this.
  conn.outbox.flushCork();
  const leftover = conn.becomeWebSocket();
  const fields = headFieldPairs(head);
  const url = `http://${head.host}${head.path}`;
  const link = new WebSocketLink(conn, config.handlers);
  const session = new WebSocketSession(link, link, { url, headers: fields, protocol: claimed.protocol, extensions: claimed.extensions }, config.session);
  link.attach(session, new LiveServerWebSocket(session, claimed.data, conn.peer?.address ?? "", false, null, conn.server.topics ?? null));
  conn.ws = link;
  link.opened();
  if (leftover.byteLength > 0) session.receive(leftover);
  // A reload began while this upgrade was being decided: it moves too.
  if (conn.server.releasing !== null) conn.server.moveWebSocket?.(conn);
}

/**
 * The new generation's side of a move: `conn` was adopted with `record`. The upgrade request
 * goes through this generation's app (its upgradeWebSocket route takes the WebSocket over);
 * bytes that arrive meanwhile wait. Not upgraded by the new app → closed with 1012.
 */
export function adoptWebSocket(conn: UpgradableConnection, record: MovedWebSocket, app: FetchApp, env: object): void {
  conn.becomeWebSocket();
  const config = conn.server.websocket ?? defaultConfig();
  const link = new WebSocketLink(conn, config.handlers);
  conn.ws = link;
  const request = new Request(record.url, { headers: record.headers });
  const check: UpgradeSlot["check"] = { kind: "accept", key: "", accept: "", offeredProtocols: record.protocol ? [record.protocol] : [], offeredExtensions: [] };
  const slot: UpgradeSlot = { check, claimed: null, config, moved: record };
  slots.set(request, slot);
  const routed = (async () => app.fetch(request, env))();
  routed
    .catch((err) => console.error("liveframe: the app's fetch handler threw while taking over a moved WebSocket (closing it with 1012):", err))
    .then(() => {
      slots.delete(request);
      const session = WebSocketSession.restore(record, link, link, config.session);
      const claimed = slot.claimed;
      link.attach(session, new LiveServerWebSocket(session, claimed?.data, conn.peer?.address ?? "", true, record.attached, conn.server.topics ?? null));
      if (claimed === null) {
        link.takeEarly(); // dropped: the connection closes
        session.closeForRestart();
        return;
      }
      for (const t of record.topics ?? []) link.ws.subscribe(t);
      link.opened();
      session.resume();
      link.takeEarly();
      if (conn.server.releasing !== null) conn.server.moveWebSocket?.(conn);
    });
}

function headFieldPairs(head: RequestHead): [string, string][] {
  const o = head.fieldOffsets;
  const b = head.buf;
  const out: [string, string][] = [];
  for (let i = 0; i < o.length; i += 4) out.push([b.toString("latin1", o[i]!, o[i + 1]!).toLowerCase(), b.toString("latin1", o[i + 2]!, o[i + 3]!)]);
  return out;
}

/** One WebSocket over an engine connection: the session's transport and the app's handlers' caller. */
export class WebSocketLink {
  session: WebSocketSession | undefined = undefined;
  ws!: LiveServerWebSocket<any>;
  private ended = false;
  /** The app's open handler ran (a moved WebSocket the new app refused never opens, so never closes). */
  private appOpen = false;
  /** Bytes that arrived before the session existed (a moved WebSocket being routed). */
  private early: Uint8Array[] = [];
  private clientGone = false;
  /** prepareToMove() is under way. */
  private moving = false;
  /** Reading was paused because the held bytes reached maxHeldBytes. */
  private pausedForHeld = false;
  /** snapshot() was read (the record went, or is going, to the new owner). */
  private snapshotTaken = false;

  constructor(
    private readonly conn: UpgradableConnection,
    private readonly handlers: WebSocketHandlers<any>,
  ) {}

  attach(session: WebSocketSession, ws: LiveServerWebSocket<any>): void {
    this.session = session;
    this.ws = ws;
  }

  opened(): void {
    this.appOpen = true;
    this.handlers.open(this.ws);
  }

  /** A restored session is ready: bytes that waited are parsed; a client that left meanwhile is reported. */
  takeEarly(): void {
    const s = this.session!;
    for (const b of this.early.splice(0)) s.receive(b);
    if (this.clientGone) s.transportClosed();
  }

  // ---- WsTransport: frames go after whatever HTTP bytes are still queued ----

  write(bytes: Uint8Array): number {
    if (this.ended || this.conn.state >= State.Closing) return -1;
    // The 101 (or an earlier response) still waits for the kernel: the session queues this and
    // writes it on drain (onDrain below), so nothing overtakes it.
    if (!this.conn.outbox.flushed) return 0;
    return this.conn.socket.write(bytes);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn.close(); // FIN after the queued HTTP bytes; the linger clock bounds a peer that never closes
  }

  // ---- SessionHandler ----

  onMessage(data: string | Buffer): void {
    this.handlers.message(this.ws, data);
  }

  onClose(code: number, reason: string): void {
    this.ws.leaveTopics(); // as Bun: a closed WebSocket receives no more publishes
    if (this.appOpen) this.handlers.close(this.ws, code, reason);
  }

  onDrain(): void {
    this.handlers.drain?.(this.ws);
  }

  // ---- socket events, from connection.ts ----

  receive(data: Uint8Array): void {
    const s = this.session;
    if (s === undefined) {
      this.early.push(new Uint8Array(data)); // a copy: Bun reuses its read buffer
      return;
    }
    s.receive(data);
    // While moving, bytes past the boundary are held: bound them by pausing the socket.
    if (this.moving && !s.wantsInput && !this.pausedForHeld) {
      this.pausedForHeld = true;
      this.conn.socket.pause();
    }
  }

  drained(): void {
    if (!this.conn.outbox.drain()) return;
    this.session?.drain();
  }

  /** The client half-closed without a close frame: nothing more can arrive; end ours too. */
  peerEnded(): void {
    if (this.session === undefined) this.clientGone = true;
    else this.session.transportClosed();
    this.end();
  }

  transportClosed(): void {
    this.ended = true;
    if (this.session === undefined) this.clientGone = true;
    else this.session.transportClosed();
  }

  /** A reload: close with 1012 (service restart) so the client reconnects to the new generation. */
  closeForRestart(): void {
    this.moving = false;
    this.session?.closeForRestart();
  }

  /** A graceful stop: close with 1001 (going away). */
  closeGoingAway(): void {
    this.session?.close(CloseCode.goingAway, "server stopping");
  }

  /** Cut now: no close handshake. */
  terminate(): void {
    if (this.session === undefined) this.end();
    else this.session.terminate();
  }

  // ---- moving to the next generation ----

  /** Open (a session, not closing) and not already moving: it can start a move. */
  get canMove(): boolean {
    return this.session !== undefined && !this.moving && this.session.readyState === 1 && !this.ended;
  }

  get isMoving(): boolean {
    return this.moving;
  }

  /** Stop at the next message boundary; `onMovable` once there with everything flushed. */
  prepareToMove(onMovable: () => void): void {
    this.moving = true;
    this.session!.prepareToMove(onMovable);
  }

  /** The record the new generation restores this WebSocket from (reading must be paused). */
  snapshot(): MovedWebSocket {
    const record = this.session!.snapshot(this.ws.attached);
    const topics = this.ws.subscriptions;
    if (topics.length > 0) record.topics = topics;
    this.snapshotTaken = true;
    return record;
  }

  /** The move was called off (release stopped, handoff failed): carry on here. */
  cancelMove(): void {
    if (!this.moving) return;
    this.moving = false;
    this.snapshotTaken = false;
    if (this.pausedForHeld) {
      this.pausedForHeld = false;
      this.conn.socket.resume();
    }
    this.session?.cancelMove();
  }

  /**
   * The new generation has it: detach without a close (the app's onClose does not run here).
   * False when no record was ever sent (the sender let it go without sending it): the caller
   * closes it with 1012 instead.
   */
  handedOver(): boolean {
    if (!this.snapshotTaken) return false;
    this.moving = false;
    this.ended = true;
    this.ws.leaveTopics(); // its subscriptions went with it
    try {
      this.session!.handedOver();
    } catch (err) {
      // Bytes arrived after the record was taken (reading is paused first, so this should not
      // happen): the new owner has the connection all the same; what it lacks is lost.
      console.error("liveframe: a moved WebSocket lost bytes that arrived after its record was sent:", err);
    }
    return true;
  }
}
